/**
 * A snapshot being read (a restore of hours) is held like a backup's parent: prune and forget
 * leave it, so GC keeps its chunks, until the reader is closed.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { hasErrorCode } from '@virtvault/core';

import { prune, readLeases, removeSnapshot, SnapshotReader, SnapshotWriter } from '../index.js';
import type { Repository } from '../index.js';
import { commitInfo, DOMAIN, rnd, tempRepo } from './helpers.js';

const CS = 64 * 1024;

async function snapshot(repo: Repository, id: string, parent?: string): Promise<void> {
  const w = new SnapshotWriter(repo, { domain: DOMAIN, snapshotId: id, parent: parent ?? null });
  await w.open();
  await w.startDisk({ target: 'vda', virtualSize: CS, source: 's', format: 'raw' });
  await w.putSlot('vda', 0, rnd(CS));
  await w.commit(commitInfo(parent === undefined ? 'full' : 'incremental'));
}

describe('a snapshot being read', () => {
  it('is kept by prune and refused by forget until the reader closes', async () => {
    const { repo, cleanup } = await tempRepo(CS);
    try {
      await snapshot(repo, 'old');
      await snapshot(repo, 'new', 'old');
      await snapshot(repo, 'newest', 'new');
      const reader = new SnapshotReader(repo, DOMAIN.uuid, 'new');
      await reader.open();
      const key = `${DOMAIN.uuid}/new`;
      const policy = { policy: { keepLast: 1 }, timeZone: 'UTC', dryRun: true };
      assert.deepEqual((await prune(repo, policy)).inUse, [key]);
      await assert.rejects(removeSnapshot(repo, DOMAIN.uuid, 'new'), (e) =>
        hasErrorCode(e, 'REPO_LOCKED'),
      );
      await reader.close();
      await reader.close();
      assert.deepEqual(await readLeases(repo), [], 'the lease is released');
      await removeSnapshot(repo, DOMAIN.uuid, 'new');
    } finally {
      await cleanup();
    }
  });

  it('a reader of a snapshot that does not exist leaves no lease', async () => {
    const { repo, cleanup } = await tempRepo(CS);
    try {
      const reader = new SnapshotReader(repo, DOMAIN.uuid, 'nope');
      await assert.rejects(reader.open(), (e) => hasErrorCode(e, 'REPO_SNAPSHOT_NOT_FOUND'));
      assert.deepEqual(await readLeases(repo), []);
    } finally {
      await cleanup();
    }
  });
});
