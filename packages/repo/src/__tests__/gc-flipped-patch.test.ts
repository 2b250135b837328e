/**
 * A patch whose kind byte flipped still has a header that decodes, as data: GC must not take it
 * for data and sweep the base only the patch reaches.
 */
import assert from 'node:assert/strict';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { describe, it } from 'node:test';

import { collectGarbage, Repository, SnapshotWriter } from '../index.js';
import { commitInfo, DOMAIN, rnd, tempDir } from './helpers.js';

const CS = 64 * 1024;
const HOUR = 3_600_000;

describe('GC: a patch whose kind byte flipped', () => {
  it('is unreadable to GC, which then sweeps nothing', async () => {
    const { dir, cleanup } = await tempDir();
    let now = Date.now();
    const repo = await Repository.init(dir, { chunkSize: CS, workers: 1, now: () => now });
    try {
      const full = new SnapshotWriter(repo, { domain: DOMAIN, snapshotId: 's1' });
      await full.open();
      await full.startDisk({ target: 'vda', virtualSize: CS, source: 's', format: 'qcow2' });
      await full.putSlot('vda', 0, rnd(CS));
      await full.commit(commitInfo());
      const base = (await repo.readIndex(DOMAIN.uuid, 's1', 'vda')).get(0);
      const inc = new SnapshotWriter(repo, { domain: DOMAIN, snapshotId: 's2', parent: 's1' });
      await inc.open();
      await inc.startDisk({ target: 'vda', virtualSize: CS, source: 's', format: 'qcow2' });
      await inc.putPatch('vda', 0, [{ offsetInSlot: 4096, data: rnd(4096) }]);
      await inc.commit(commitInfo('incremental'));
      const patch = (await repo.readIndex(DOMAIN.uuid, 's2', 'vda')).get(0);
      assert.notEqual(patch, base);
      // the full pruned: its data chunk is reached through the patch only
      await repo.removeSnapshotDir(DOMAIN.uuid, 's1');
      const file = readFileSync(repo.chunkPath(patch));
      assert.equal(file[5], 1, 'a patch');
      file[5] = 0;
      writeFileSync(repo.chunkPath(patch), file);
      now += HOUR;
      const report = await collectGarbage(repo);
      assert.deepEqual(report.unreadable, [patch]);
      assert.equal(report.swept, 0);
      readFileSync(repo.chunkPath(base)); // still there
      // moved aside as verify does with a chunk it finds corrupt: still not taken for data
      renameSync(repo.chunkPath(patch), `${repo.chunkPath(patch)}.bad`);
      const aside = await collectGarbage(repo);
      assert.deepEqual(aside.unreadable, [patch]);
      assert.equal(aside.swept, 0);
      readFileSync(repo.chunkPath(base));
    } finally {
      await repo.close();
      await cleanup();
    }
  });
});
