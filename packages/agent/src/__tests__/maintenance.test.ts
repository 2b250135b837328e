import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { hasErrorCode } from '@virtvault/core';
import { Repository, SnapshotWriter } from '@virtvault/repo';

// the engine's fields of a hand-written commit (compiled next to its tests)
import { COMMIT } from '../../../engine/dist/__tests__/test-commit.js';
import { parseConfig } from '../config.js';
import { AgentService } from '../service.js';

const CS = 64 * 1024;
const DOMAIN = { uuid: '6f1c1f9e-0000-4000-8000-000000000001', name: 'vm1' };

let dir = '';
let root = '';

/** One committed snapshot of two random chunks. */
async function seedRepository(): Promise<void> {
  const repo = await Repository.init(root, { chunkSize: CS, workers: 1 });
  try {
    const w = new SnapshotWriter(repo, { domain: DOMAIN, snapshotId: 's1' });
    await w.open();
    await w.startDisk({ target: 'vda', virtualSize: 2 * CS, source: 's', format: 'raw' });
    await w.putSlot('vda', 0, randomBytes(CS));
    await w.putSlot('vda', 1, randomBytes(CS));
    await w.commit(COMMIT);
  } finally {
    await repo.close();
  }
}

function service(): AgentService {
  const yaml = `
listen: 127.0.0.1:7443
tls: { ca: ca.crt, cert: c.crt, key: c.key }
controllerName: controller
repositories:
  - { name: main, path: ${root} }
`;
  const config = parseConfig(yaml, { hostName: 'h', baseDir: dir });
  return new AgentService({ config, version: 'test', now: Date.now });
}

/** Every file under the repository's chunk store. */
async function chunkFiles(): Promise<string[]> {
  const entries = await readdir(path.join(root, 'chunks'), {
    recursive: true,
    withFileTypes: true,
  });
  return entries.filter((e) => e.isFile()).map((e) => e.name);
}

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'vv-agent-maint-'));
  root = path.join(dir, 'repo');
  await seedRepository();
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('agent repository maintenance', () => {
  it('a GC or prune whose caller cancelled stops with CANCELLED, leaving the repository as it was', async () => {
    const s = service();
    try {
      const before = (await chunkFiles()).sort();
      const cancelled = AbortSignal.abort(new Error('the caller went away'));
      await assert.rejects(s.collectGarbage('main', false, cancelled), (e) =>
        hasErrorCode(e, 'CANCELLED'),
      );
      const keepLast = { keepLast: 1, keepDaily: 0, keepWeekly: 0, keepMonthly: 0 };
      const prune = { repository: 'main', domainUuid: DOMAIN.uuid, ...keepLast };
      const pruned = await s.prune(prune, cancelled).catch((e: unknown) => e);
      // a prune with nothing to remove may end before its first check; never with a removal
      if (pruned instanceof Error) {
        assert.ok(hasErrorCode(pruned, 'CANCELLED'), String(pruned));
      } else {
        assert.deepEqual((pruned as { removed: string[] }).removed, []);
      }
      assert.deepEqual((await chunkFiles()).sort(), before);
      assert.deepEqual((await s.listManifests('main', DOMAIN.uuid)).length, 1);
    } finally {
      await s.close(1000);
    }
  });

  it('close() stops a running GC and waits for it; later calls are AGENT_SHUTTING_DOWN', async () => {
    const s = service();
    let settled = false;
    const gc = s.collectGarbage('main', false).finally(() => {
      settled = true;
    });
    const outcome = gc.then(
      () => 'done',
      (e: unknown) => e,
    );
    await s.close(5000);
    assert.equal(settled, true, 'close() returned before the GC ended');
    const result = await outcome;
    assert.ok(result === 'done' || hasErrorCode(result, 'AGENT_SHUTTING_DOWN'), String(result));
    await assert.rejects(s.collectGarbage('main', true), (e) =>
      hasErrorCode(e, 'AGENT_SHUTTING_DOWN'),
    );
  });
});
