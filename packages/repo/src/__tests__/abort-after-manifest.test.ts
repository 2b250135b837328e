/**
 * A commit that fails after its manifest is in place (the folder's fsync refused) is aborted
 * manifest first, as a pruned snapshot is removed: a crash midway through the removal must leave
 * an aborted folder, never a manifest whose indexes are gone.
 */
import assert from 'node:assert/strict';
import { existsSync, promises as fsp } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';

import { SnapshotWriter } from '../index.js';
import { commitInfo, DOMAIN, rnd, tempRepo } from './helpers.js';

const CS = 64 * 1024;

describe('writer: abort after a late commit failure', () => {
  it('removes the manifest before the rest of the folder', async () => {
    const { repo, cleanup } = await tempRepo(CS);
    const { open, unlink, rm } = fsp;
    const dir = repo.snapshotDir(DOMAIN.uuid, 's1');
    const manifest = path.join(dir, 'manifest.json');
    const removals: string[] = [];
    try {
      const w = new SnapshotWriter(repo, { domain: DOMAIN, snapshotId: 's1' });
      await w.open();
      await w.startDisk({ target: 'vda', virtualSize: CS, source: '/d', format: 'raw' });
      await w.putSlot('vda', 0, rnd(CS));
      // the folder's fsync after the manifest's rename fails, as on a failing disk
      fsp.open = ((p: string, ...rest: unknown[]) =>
        p === dir && existsSync(manifest)
          ? Promise.reject(Object.assign(new Error('EIO: i/o error, open'), { code: 'EIO' }))
          : (open as (...a: unknown[]) => Promise<fsp.FileHandle>)(p, ...rest)) as typeof open;
      fsp.unlink = ((p: string) => {
        removals.push(`unlink ${path.relative(dir, p)}`);
        return unlink(p);
      }) as typeof unlink;
      fsp.rm = ((p: string, o?: Parameters<typeof rm>[1]) => {
        removals.push(`rm ${path.relative(dir, p) || '.'}`);
        return rm(p, o);
      }) as typeof rm;
      await assert.rejects(w.commit(commitInfo()), { code: 'EIO' });
      assert.ok(existsSync(manifest), 'the manifest was in place when the commit failed');
      await w.abort();
      const mine = removals.filter((r) => !r.includes('..'));
      assert.equal(mine[0], 'unlink manifest.json', mine.join('; '));
      assert.ok(!existsSync(dir), 'the folder is gone');
    } finally {
      Object.assign(fsp, { open, unlink, rm });
      await cleanup();
    }
  });
});
