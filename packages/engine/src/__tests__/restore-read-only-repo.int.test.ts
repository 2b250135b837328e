/**
 * A restore from a repository mounted read-only (an offsite copy, a snapshot of the backup
 * volume): the lease a reader takes against prune cannot be written there, and need not be.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';

import { Repository, SnapshotWriter } from '@virtvault/repo';

import { restoreSnapshot } from '../restore.js';
import { COMMIT, DOMAIN } from './test-commit.js';

const run = promisify(execFile);
const CS = 1024 * 1024;

describe('restore from a read-only repository', () => {
  let dir = '';
  let mounted = '';
  const image = randomBytes(2 * CS + 4096);

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'vv-restore-ro-'));
    const repo = await Repository.init(path.join(dir, 'repo'), { chunkSize: CS, workers: 1 });
    const w = new SnapshotWriter(repo, { domain: DOMAIN, snapshotId: 's1' });
    await w.open();
    await w.startDisk({ target: 'vda', virtualSize: image.length, source: 's', format: 'raw' });
    for (let slot = 0; slot * CS < image.length; slot++) {
      await w.putSlot('vda', slot, image.subarray(slot * CS, (slot + 1) * CS));
    }
    await w.commit(COMMIT);
    await repo.close();
    mounted = path.join(dir, 'ro');
    await mkdir(mounted);
    await run('mount', ['--bind', path.join(dir, 'repo'), mounted]);
    await run('mount', ['-o', 'remount,bind,ro', mounted]);
  });
  after(async () => {
    await run('umount', [mounted]).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });

  it('restores byte-exact, without a lease', async () => {
    const repo = new Repository(mounted, { workers: 1 });
    await repo.open();
    try {
      const out = path.join(dir, 'out');
      await restoreSnapshot({
        repo,
        domainUuid: DOMAIN.uuid,
        snapshotId: 's1',
        outputDir: out,
        format: 'raw',
      });
      assert.ok((await readFile(path.join(out, 'vda.raw'))).equals(image));
    } finally {
      await repo.close();
    }
  });
});
