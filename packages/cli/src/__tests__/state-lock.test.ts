import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';

import { hasErrorCode } from '@virtvault/core';

import { lockState, startEmbedded } from '../standalone.js';

const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function stateDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'vv-state-lock-'));
  dirs.push(d);
  return d;
}

/** A pid that no process has: a child that has already exited. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', '0']);
  assert.equal(child.status, 0);
  return child.pid;
}

describe('state directory lock', () => {
  it('records its holder and is released by its unlock', () => {
    const dir = stateDir();
    const unlock = lockState(dir);
    assert.equal(readFileSync(join(dir, 'state.lock'), 'utf8'), `${process.pid}\n`);
    unlock();
    assert.equal(existsSync(join(dir, 'state.lock')), false);
  });

  it('refuses a directory a live process holds, naming it, and leaves its lock alone', () => {
    const dir = stateDir();
    const unlock = lockState(dir);
    try {
      assert.throws(
        () => lockState(dir),
        (e: unknown) => hasErrorCode(e, 'STATE_LOCKED') && String(e).includes(`pid ${process.pid}`),
      );
      assert.equal(readFileSync(join(dir, 'state.lock'), 'utf8'), `${process.pid}\n`);
    } finally {
      unlock();
    }
  });

  it('takes over the lock of a process that died', () => {
    const dir = stateDir();
    writeFileSync(join(dir, 'state.lock'), `${deadPid()}\n`);
    const unlock = lockState(dir);
    assert.equal(readFileSync(join(dir, 'state.lock'), 'utf8'), `${process.pid}\n`);
    unlock();
  });
});

describe('embedded database thread start', () => {
  it('reports a failed start where it is awaited, not as an unhandled rejection', async () => {
    const file = join(stateDir(), 'lineage');
    writeFileSync(file, 'not a directory\n');
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown): void => void unhandled.push(e);
    process.on('unhandledRejection', onUnhandled);
    try {
      const starting = startEmbedded(file);
      // the CLI awaits the start only once the lineage package has loaded: the thread fails first
      await sleep(3000);
      await assert.rejects(starting, (e: unknown) => hasErrorCode(e, 'DATA_DIR_INVALID'));
      assert.deepEqual(unhandled, []);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});
