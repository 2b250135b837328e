import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';

import { prune, Repository, SnapshotWriter } from '../index.js';
import { commitInfo, DOMAIN, tempDir } from './helpers.js';

/** A repository with three fulls a day apart: keep-last 1 removes the two older ones. */
async function threeSnapshots(dir: string): Promise<{ repo: Repository; left: () => string[] }> {
  const repo = await Repository.init(dir, { chunkSize: 65536, workers: 1 });
  for (const [i, day] of ['01', '02', '03'].entries()) {
    const w = new SnapshotWriter(repo, { domain: DOMAIN, snapshotId: `s${i + 1}` });
    await w.open();
    await w.startDisk({ target: 'vda', virtualSize: 65536, source: 's', format: 'raw' });
    await w.putSlot('vda', 0, Buffer.alloc(65536, i + 1));
    await w.commit({ ...commitInfo(), startedAt: `2025-01-${day}T00:00:00.000Z` });
  }
  const left = () => readdirSync(path.join(dir, 'snapshots', DOMAIN.uuid)).sort();
  return { repo, left };
}

/** A signal that reads as aborted from its `n`th look on: an interruption mid-prune. */
function abortedFrom(n: number): AbortSignal {
  let looks = 0;
  return {
    get aborted() {
      return ++looks >= n;
    },
    reason: new Error('interrupted by SIGINT'),
  } as AbortSignal;
}

const OPTS = { policy: { keepLast: 1 }, timeZone: 'UTC' };

describe('prune with a signal', () => {
  it('stops between removals once interrupted: REPO_INTERRUPTED, the rest left whole', async () => {
    const t = await tempDir();
    const { repo, left } = await threeSnapshots(t.dir);
    try {
      await assert.rejects(prune(repo, { ...OPTS, signal: abortedFrom(2) }), (e: unknown) => {
        assert.equal((e as { code?: string }).code, 'REPO_INTERRUPTED');
        assert.match((e as Error).message, /1 snapshots removed.*interrupted by SIGINT/);
        return true;
      });
      assert.equal(left().length, 2, 'one removed, the other and the kept one whole');
      // a dry run never stops; the next prune finishes the job
      const dry = await prune(repo, { ...OPTS, dryRun: true, signal: abortedFrom(1) });
      assert.equal(dry.removed.length, 1);
      const r = await prune(repo, { ...OPTS, signal: new AbortController().signal });
      assert.equal(r.removed.length, 1);
      assert.deepEqual(left(), ['s3']);
    } finally {
      await repo.close();
      await t.cleanup();
    }
  });
});
