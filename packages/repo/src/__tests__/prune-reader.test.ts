/**
 * A restore that starts while a prune runs (after the prune listed the leases) keeps its snapshot:
 * the prune reads the leases again once the manifest is set aside, and puts it back.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { prune, removeSnapshot, SnapshotReader, SnapshotWriter } from '../index.js';
import { commitInfo, DOMAIN, readAll, rnd, tempRepo } from './helpers.js';

const CS = 64 * 1024;

describe('prune beside a restore that starts meanwhile', () => {
  it('keeps the snapshot being read, and reports it in use', async () => {
    const { repo, cleanup } = await tempRepo(CS);
    const readers: SnapshotReader[] = [];
    try {
      const data = new Map<string, Buffer>();
      for (const [i, id] of ['s1', 's2'].entries()) {
        const w = new SnapshotWriter(repo, { domain: DOMAIN, snapshotId: id });
        await w.open();
        await w.startDisk({ target: 'vda', virtualSize: CS, source: '/d', format: 'raw' });
        const bytes = rnd(CS);
        data.set(id, bytes);
        await w.putSlot('vda', 0, bytes);
        await w.commit({ ...commitInfo(), startedAt: `2025-01-0${i + 1}T00:00:00.000Z` });
      }
      // the restore of s1 begins once the prune has listed the leases (it lists the snapshots next)
      const list = repo.listSnapshots.bind(repo);
      repo.listSnapshots = async (...a) => {
        if (readers.length === 0) {
          const r = new SnapshotReader(repo, DOMAIN.uuid, 's1');
          readers.push(r);
          await r.open();
        }
        return list(...a);
      };
      const report = await prune(repo, { policy: { keepLast: 1 }, timeZone: 'UTC' });
      repo.listSnapshots = list;
      assert.deepEqual(report.removed, []);
      assert.deepEqual(report.inUse, [`${DOMAIN.uuid}/s1`]);
      const [reader] = readers;
      assert.ok(reader !== undefined);
      assert.deepEqual(await readAll(reader, 'vda'), data.get('s1'), 'the restore reads it whole');
      await assert.rejects(removeSnapshot(repo, DOMAIN.uuid, 's1'), { code: 'REPO_LOCKED' });
      await reader.close();
      readers.length = 0;
      // its reader gone, the next prune removes it
      const later = await prune(repo, { policy: { keepLast: 1 }, timeZone: 'UTC' });
      assert.deepEqual(later.removed, [`${DOMAIN.uuid}/s1`]);
    } finally {
      for (const r of readers) {
        await r.close();
      }
      await cleanup();
    }
  });
});
