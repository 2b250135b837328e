/**
 * A manifest that cannot be looked at (EIO, ESTALE on NFS) is not a manifest that is absent: GC
 * stops instead of taking a committed snapshot for an aborted one and removing it.
 */
import assert from 'node:assert/strict';
import { promises as fsp } from 'node:fs';
import { describe, it } from 'node:test';

import { collectGarbage, SnapshotWriter } from '../index.js';
import { commitInfo, DOMAIN, readSnapshot, rnd, tempRepo } from './helpers.js';

const CS = 64 * 1024;

describe('GC: a manifest it cannot stat', () => {
  it('fails with the error and keeps the committed snapshot', async () => {
    const { repo, cleanup } = await tempRepo(CS);
    const stat = fsp.stat;
    try {
      const w = new SnapshotWriter(repo, { domain: DOMAIN, snapshotId: 's1' });
      await w.open();
      await w.startDisk({ target: 'vda', virtualSize: CS, source: '/d', format: 'raw' });
      const data = rnd(CS);
      await w.putSlot('vda', 0, data);
      await w.commit(commitInfo());
      // a transient I/O error on exactly this manifest, as NFS or a failing disk gives
      fsp.stat = ((p: Parameters<typeof stat>[0], ...rest: unknown[]) => {
        if (String(p).endsWith('/s1/manifest.json')) {
          return Promise.reject(Object.assign(new Error('EIO: i/o error, stat'), { code: 'EIO' }));
        }
        return (stat as (...a: unknown[]) => Promise<unknown>)(p, ...rest);
      }) as typeof stat;
      await assert.rejects(collectGarbage(repo), { code: 'EIO' });
      fsp.stat = stat;
      assert.deepEqual(await readSnapshot(repo, 's1'), data, 'the snapshot is whole');
    } finally {
      fsp.stat = stat;
      await cleanup();
    }
  });
});
