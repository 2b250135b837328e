/**
 * GC over an index naming more distinct chunks than a call's arguments may hold (about 125k on
 * Node 20: a 500 GiB disk at 4 MiB slots): it goes on to mark them instead of failing every run
 * with a RangeError.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';

import { hasErrorCode } from '@virtvault/core';

import { collectGarbage, SnapshotWriter } from '../index.js';
import { DiskIndex } from '../format/index-file.js';
import { commitInfo, DOMAIN, rnd, tempRepo } from './helpers.js';

const CS = 4096;
const SLOTS = 200_000;

describe('GC: a very large index', () => {
  it(`collects the ${SLOTS} distinct digests of one index and goes on to mark them`, async () => {
    const { repo, cleanup } = await tempRepo(CS);
    try {
      const w = new SnapshotWriter(repo, { domain: DOMAIN, snapshotId: 'big' });
      await w.open();
      await w.startDisk({ target: 'vda', virtualSize: CS, source: '/d', format: 'raw' });
      await w.putSlot('vda', 0, rnd(CS));
      await w.commit(commitInfo());
      // the committed index replaced by one of SLOTS distinct digests (no chunk files needed:
      // the marking is what overflowed)
      const big = new DiskIndex(CS, SLOTS * CS, randomBytes(SLOTS * 32));
      await writeFile(path.join(repo.snapshotDir(DOMAIN.uuid, 'big'), 'vda.index'), big.encode());
      // marking 200k chunks that do not exist takes ~35 s here: once past collecting the
      // digests (where it overflowed at once), the run is interrupted in the marking
      const signal = AbortSignal.timeout(1000);
      await assert.rejects(collectGarbage(repo, { dryRun: true, signal }), (e) => {
        assert.ok(hasErrorCode(e, 'REPO_INTERRUPTED'), String(e));
        return true;
      });
    } finally {
      await cleanup();
    }
  });
});
