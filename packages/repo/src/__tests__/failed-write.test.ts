import assert from 'node:assert/strict';
import { access, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';

import { chunkDigest } from '../format/chunk-codec.js';
import { ChunkKind } from '../format/constants.js';
import { Repository, SnapshotWriter } from '../index.js';
import { NewChunks } from '../new-chunks.js';
import { DOMAIN, rnd, tempDir } from './helpers.js';

const CS = 1024 * 1024;

/** Every `.tmp-` file under the repository's chunk folders. */
async function chunkTemps(root: string): Promise<string[]> {
  const out: string[] = [];
  for (const sub of await readdir(path.join(root, 'chunks'))) {
    const dir = path.join(root, 'chunks', sub);
    const names = await readdir(dir).catch(() => []);
    out.push(...names.filter((n) => n.startsWith('.tmp-')).map((n) => path.join(dir, n)));
  }
  return out;
}

/**
 * Leaves only the chunk folder of `keep`'s digest: every other one becomes a plain file, so a
 * chunk written there fails (ENOTDIR) as on a full disk, and the job fails partway.
 */
async function breakChunkFoldersBut(repo: Repository, keep: Buffer): Promise<void> {
  const prefix = chunkDigest(repo.config.hash, ChunkKind.data, keep).slice(0, 2);
  for (const sub of await readdir(path.join(repo.root, 'chunks'))) {
    if (sub !== prefix) {
      await rm(path.join(repo.root, 'chunks', sub), { recursive: true });
      await writeFile(path.join(repo.root, 'chunks', sub), '');
    }
  }
}

describe('a chunk job that fails partway', () => {
  it('leaves no temp of what it stored before the failure (a patch and its data chunk)', async () => {
    const t = await tempDir();
    const repo = await Repository.init(t.dir, { chunkSize: CS, workers: 1 });
    try {
      // over the pack threshold: one job stores the ranges' data chunk, then the patch
      const data = rnd(300 * 1024);
      await breakChunkFoldersBut(repo, data);
      const w = new SnapshotWriter(repo, { domain: DOMAIN, snapshotId: 'failed-1' });
      await w.open();
      await w.startDisk({ target: 'vda', virtualSize: CS, source: '/d.qcow2', format: 'qcow2' });
      const patch = w.putPatch('vda', 0, [{ offsetInSlot: 4096, data }], { overZero: true });
      await assert.rejects(patch, /ENOTDIR|not a directory/);
      assert.deepEqual(await chunkTemps(repo.root), [], 'the data chunk written first is removed');
      await w.abort();
      assert.deepEqual(await chunkTemps(repo.root), []);
    } finally {
      await repo.close();
      await t.cleanup();
    }
  });
});

describe('a writer aborted while its jobs run', () => {
  it('runs none of the jobs still waiting and leaves no temp', async () => {
    const t = await tempDir();
    const repo = await Repository.init(t.dir, { chunkSize: CS, workers: 1 });
    try {
      const w = new SnapshotWriter(repo, { domain: DOMAIN, snapshotId: 'aborted-1' });
      await w.open();
      await w.startDisk({ target: 'vda', virtualSize: 32 * CS, source: '/d', format: 'raw' });
      // more slots than the writer lets run at once: most wait for the semaphore
      const puts = Array.from({ length: 32 }, (_, i) => w.putSlot('vda', i, rnd(CS)));
      const all = Promise.allSettled(puts);
      await w.abort();
      const settled = await all;
      const refused = settled.filter(
        (r) => r.status === 'rejected' && (r.reason as { code?: string }).code === 'REPO_STATE',
      );
      assert.ok(refused.length > 0, 'jobs waiting at the abort are refused');
      assert.deepEqual(await chunkTemps(repo.root), []);
    } finally {
      await repo.close();
      await t.cleanup();
    }
  });

  it('removes a chunk stored after the discard at once', async () => {
    const t = await tempDir();
    try {
      const temp = path.join(t.dir, '.tmp-late');
      await writeFile(temp, 'x');
      const news = new NewChunks((d) => path.join(t.dir, d));
      await news.discard();
      const late = { digest: 'ab', zero: false, isNew: true, storedBytes: 1, temp, rawLength: 1 };
      const taken = news.take(late);
      await assert.rejects(access(temp), /ENOENT/, 'removed before take resolves');
      assert.equal(await taken, 0);
    } finally {
      await t.cleanup();
    }
  });
});
