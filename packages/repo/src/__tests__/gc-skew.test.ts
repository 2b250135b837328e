/**
 * Hosts' clocks differ: a GC whose clock runs ahead of a writer's (within the skew margin) never
 * takes that writer for gone, and a writer's commit renews its lease, so the GC cannot remove the
 * folder under the manifest being placed.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { collectGarbage, Lease, readLeases, Repository, SnapshotWriter } from '../index.js';
import { commitInfo, DOMAIN, readSnapshot, rnd, tempDir } from './helpers.js';

const CS = 64 * 1024;
const TTL = 10_000;

describe('GC and a writer on hosts whose clocks differ', () => {
  it("keeps a writer whose lease expired by the GC's clock only", async () => {
    const { dir, cleanup } = await tempDir();
    let writerNow = 1_000_000;
    // the GC's host runs 30 s ahead: within the default margin of 60 s
    const gcNow = () => writerNow + 30_000;
    const mine = await Repository.init(dir, { chunkSize: CS, workers: 1, leaseTtlMs: TTL });
    await mine.close();
    const writerRepo = new Repository(dir, { now: () => writerNow, leaseTtlMs: TTL, workers: 1 });
    const gcRepo = new Repository(dir, { now: gcNow, leaseTtlMs: TTL, workers: 1 });
    await writerRepo.open();
    await gcRepo.open();
    try {
      const w = new SnapshotWriter(writerRepo, { domain: DOMAIN, snapshotId: 's1' });
      await w.open();
      await w.startDisk({ target: 'vda', virtualSize: CS, source: '/d', format: 'raw' });
      const data = rnd(CS);
      await w.putSlot('vda', 0, data);
      writerNow += TTL - 1_000; // still live by its own clock, expired 29 s ago by the GC's
      const report = await collectGarbage(gcRepo);
      assert.deepEqual(report.removedSnapshots, [], 'the folder being written stays');
      assert.equal((await readLeases(gcRepo)).length, 1, 'and so does its lease');
      await w.commit(commitInfo());
      // the commit renewed the lease: a whole lifetime ahead when the manifest was placed
      assert.deepEqual(await readSnapshot(writerRepo, 's1'), data);
    } finally {
      await writerRepo.close();
      await gcRepo.close();
      await cleanup();
    }
  });

  it('a confirm before a commit renews the lease to a whole lifetime', async () => {
    const { dir, cleanup } = await tempDir();
    let now = 1_000_000;
    const repo = await Repository.init(dir, { chunkSize: CS, workers: 1, leaseTtlMs: TTL });
    await repo.close();
    const r = new Repository(dir, { now: () => now, leaseTtlMs: TTL, workers: 1 });
    await r.open();
    try {
      const lease = await Lease.acquire(r, { kind: 'writer', snapshot: `${DOMAIN.uuid}/s2` });
      now += TTL - 500;
      await lease.confirm();
      assert.equal(lease.record.expiresAt, now + TTL);
      const [onDisk] = await readLeases(r);
      assert.equal(onDisk?.expiresAt, now + TTL, 'the file says so too');
      await lease.close();
    } finally {
      await r.close();
      await cleanup();
    }
  });
});
