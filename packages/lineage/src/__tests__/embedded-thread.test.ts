import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { promisify } from 'node:util';

import { hasErrorCode, type RunStart } from '@virtvault/core';

import { EmbeddedLineage } from '../embedded.js';
import { EmbeddedServer } from '../embedded-server.js';

const run = promisify(execFile);
const scratch: string[] = [];
after(async () => {
  await Promise.all(scratch.map((d) => rm(d, { recursive: true, force: true })));
});

const HOUR = 3_600_000;
const T0 = Date.parse('2026-11-27T00:00:00Z');

function start(id: string, at: number): RunStart {
  return {
    id,
    repository: '/backups',
    domain: { uuid: '00000000-0000-4000-8000-000000000001', name: 'd1' },
    host: 'h1',
    startedAt: T0 + at,
  };
}

const EMBEDDED = new URL('../embedded.js', import.meta.url).href;

describe('embedded lineage database thread', () => {
  it('serves the store from its thread and closes idempotently', async () => {
    const db = await EmbeddedLineage.open();
    assert.match(db.url, /^postgres:\/\/postgres@127\.0\.0\.1:\d+\/postgres$/);
    assert.deepEqual(await db.store.beginRun(start('run-1', 0), HOUR), []);
    await Promise.all([db.close(), db.close()]);
    await db.close();
  });

  it('opens the store over a thread started beforehand', async () => {
    // the CLI starts the thread before it loads the store's package
    const starting = EmbeddedServer.start({});
    const db = await EmbeddedLineage.over(await starting);
    try {
      assert.deepEqual(await db.store.beginRun(start('run-early', 0), HOUR), []);
    } finally {
      await db.close();
    }
  });

  it('a store that cannot connect fails with CONNECT_FAILED and stops the thread', async () => {
    const server = await EmbeddedServer.start({});
    await server.close();
    // nothing listens at the URL any more: the connect fails and the (closed) server is closed again
    await assert.rejects(EmbeddedLineage.over(server), (e: unknown) =>
      hasErrorCode(e, 'CONNECT_FAILED'),
    );
    await server.close();
  });

  it('does not keep a process alive that never stops it, and the next open finds the data', async () => {
    const dataDir = join(await mkdtemp(join(tmpdir(), 'vv-lineage-thread-')), 'lineage');
    scratch.push(join(dataDir, '..'));
    const script = [
      `const { EmbeddedLineage } = await import(${JSON.stringify(EMBEDDED)});`,
      `const db = await EmbeddedLineage.open({ dataDir: ${JSON.stringify(dataDir)} });`,
      `await db.store.beginRun(${JSON.stringify(start('run-left', 0))}, ${HOUR});`,
      // the store's connection would hold the process; the database thread must not
      `await db.store.close();`,
      `console.log('opened');`,
    ].join('\n');
    const file = join(dataDir, '..', 'open-and-leave.mjs');
    await writeFile(file, script);
    // without the thread unref'd the child would never exit and the call would time out
    const { stdout } = await run(process.execPath, ['--liftoff-only', file], { timeout: 60_000 });
    assert.equal(stdout.trim(), 'opened');
    const db = await EmbeddedLineage.open({ dataDir });
    try {
      // the run the exited process left was recorded: a run two hours later finds it abandoned
      assert.deepEqual(await db.store.beginRun(start('run-next', 2 * HOUR), HOUR), ['run-left']);
    } finally {
      await db.close();
    }
  });
});
