/**
 * An index whose disk size is not its manifest's is corrupt: a restore sizes its output by the
 * manifest and fills it by the index, so the difference became a silent zero tail (or a raw file
 * grown past the disk). Verify fails the snapshot; a reader refuses it.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';

import { hasErrorCode } from '@virtvault/core';

import { SnapshotReader, SnapshotWriter, verifyRepository } from '../index.js';
import { commitInfo, DOMAIN, rnd, tempRepo } from './helpers.js';

const CS = 64 * 1024;

describe('an index of another size than its manifest says', () => {
  it('fails verify and is refused by a reader', async () => {
    const { repo, cleanup } = await tempRepo(CS);
    try {
      const w = new SnapshotWriter(repo, { domain: DOMAIN, snapshotId: 's1' });
      await w.open();
      await w.startDisk({ target: 'vda', virtualSize: 2 * CS, source: '/d', format: 'raw' });
      await w.putSlot('vda', 0, rnd(CS));
      await w.putSlot('vda', 1, rnd(CS));
      await w.commit(commitInfo());
      // the manifest says one slot more than the index holds (as a writer's bug would)
      const file = path.join(repo.snapshotDir(DOMAIN.uuid, 's1'), 'manifest.json');
      const m = JSON.parse(readFileSync(file, 'utf8')) as { disks: { virtualSize: number }[] };
      const disk = m.disks[0];
      assert.ok(disk !== undefined);
      disk.virtualSize += CS;
      writeFileSync(file, JSON.stringify(m));
      const report = await verifyRepository(repo);
      assert.equal(report.ok, false);
      const r = report.snapshots[`${DOMAIN.uuid}/s1`];
      assert.equal(r?.status, 'failed');
      assert.match(r?.problems[0]?.message ?? '', /131072 bytes, its manifest 196608/);
      const reader = new SnapshotReader(repo, DOMAIN.uuid, 's1');
      await reader.open();
      try {
        await assert.rejects(reader.index('vda'), (e) => hasErrorCode(e, 'REPO_INDEX_CORRUPT'));
      } finally {
        await reader.close();
      }
    } finally {
      await cleanup();
    }
  });
});
