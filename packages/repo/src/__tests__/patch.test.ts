import assert from 'node:assert/strict';
import { createHash, randomInt } from 'node:crypto';
import { rename, rm, stat } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';

import { ChunkKind, ZERO_DIGEST_HEX } from '../format/constants.js';
import {
  collectGarbage,
  gcIncomplete,
  removeSnapshot,
  Repository,
  SnapshotWriter,
  verifyRepository,
} from '../index.js';
import { chunkKind, readPatch } from '../resolve.js';
import { chunkFile } from '../validate.js';
import { commitInfo, DOMAIN, readSnapshot, rnd, tempDir } from './helpers.js';

const CS = 1024 * 1024; // 16 blocks of 64 KiB per slot
const BLOCK = 64 * 1024;
const SIZE = 16 * CS;
const ROUNDS = 30;
const MAX_DEPTH = 4;

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

describe('patches: 30 incrementals of random 64 KiB writes', () => {
  const fx = useRepo();
  const expected = new Map<string, string>();
  const ids: string[] = [];
  let patches = 0;

  it('writes a full then 30 patch-based incrementals that read back byte-exact', async () => {
    const { repo } = fx;
    const image = rnd(SIZE);
    image.fill(0, 3 * CS, 4 * CS); // a zero slot that patches will land on
    ids.push(await writeFull(repo, image));
    expected.set('s00', sha(image));
    for (let round = 1; round <= ROUNDS; round++) {
      const id = `s${String(round).padStart(2, '0')}`;
      await writeIncremental(repo, id, ids[ids.length - 1] ?? '', image, 12);
      ids.push(id);
      expected.set(id, sha(image));
    }
    for (const id of ids) {
      assert.equal(sha(await readSnapshot(repo, id)), expected.get(id), `snapshot ${id}`);
    }
  });

  it('keeps every patch within the depth bound and the width bound', async () => {
    const { repo } = fx;
    for (const id of ids) {
      const idx = await repo.readIndex(DOMAIN.uuid, id, 'vda');
      for (let s = 0; s < idx.slotCount; s++) {
        const d = idx.get(s);
        if (d === ZERO_DIGEST_HEX || (await chunkKind(repo, d)) !== ChunkKind.patch) {
          continue;
        }
        patches++;
        assert.ok((await patchDepth(repo, d)) <= MAX_DEPTH);
        const p = await readPatch(repo, d);
        // over zeros only the range count bounds a patch (no base bytes are wasted)
        const bound = p.base === ZERO_DIGEST_HEX ? CS : CS / 2;
        assert.ok(p.ranges.reduce((n, r) => n + r.length, 0) <= bound, 'wide patch not compacted');
        assert.ok(p.ranges.length <= 64, 'a patch of too many ranges was not compacted');
      }
    }
    assert.ok(patches > 100, `patches were used (${patches})`);
    // compaction happened: some incremental names a data chunk the full snapshot did not have
    const full = (await repo.readIndex(DOMAIN.uuid, 's00', 'vda')).digests();
    let compacted = 0;
    for (const id of ids.slice(1)) {
      for (const d of (await repo.readIndex(DOMAIN.uuid, id, 'vda')).digests()) {
        if (!full.has(d) && (await chunkKind(repo, d)) === ChunkKind.data) {
          compacted++;
        }
      }
    }
    assert.ok(compacted > 0, 'wide patches were compacted into plain chunks');
  });

  it('prunes middle snapshots, GC sweeps, every other snapshot stays byte-exact', async () => {
    const { repo, dir } = fx;
    for (const id of ['s10', 's15', 's16', 's29']) {
      await removeSnapshot(repo, DOMAIN.uuid, id);
      expected.delete(id);
    }
    const later = new Repository(dir, { now: () => Date.now() + 3_600_000 });
    await later.open();
    const report = await collectGarbage(later, { skewMarginMs: 0 });
    await later.close();
    assert.ok(report.swept > 0, 'GC freed the pruned snapshots’ own chunks');
    assert.deepEqual(report.unreadable, []);
    for (const [id, digest] of expected) {
      assert.equal(sha(await readSnapshot(repo, id)), digest, `snapshot ${id} after prune + GC`);
    }
    const v = await verifyRepository(repo);
    assert.ok(v.ok, JSON.stringify(v.chunks));
    assert.equal(Object.keys(v.snapshots).length, ROUNDS + 1 - 4);
  });

  it('a patch in use that cannot be read (quarantined) stops the sweep: its base stays', async () => {
    const { repo, dir } = fx;
    const last = ids.filter((id) => expected.has(id)).at(-1) ?? '';
    const idx = await repo.readIndex(DOMAIN.uuid, last, 'vda');
    let patch = '';
    for (let s = 0; s < idx.slotCount && patch === ''; s++) {
      const d = idx.get(s);
      if (d !== ZERO_DIGEST_HEX && (await chunkKind(repo, d)) === ChunkKind.patch) {
        patch = d;
      }
    }
    assert.notEqual(patch, '', `${last} has a patch`);
    const { base } = await readPatch(repo, patch);
    // as verify quarantines a chunk it found damaged; and a snapshot pruned, so that there is
    // something a sweep would remove
    await rename(chunkFile(dir, patch), `${chunkFile(dir, patch)}.bad`);
    await removeSnapshot(repo, DOMAIN.uuid, 's05');
    expected.delete('s05');
    const later = new Repository(dir, { now: () => Date.now() + 3_600_000 });
    await later.open();
    try {
      const blocked = await collectGarbage(later, { skewMarginMs: 0 });
      assert.equal(blocked.swept, 0, 'nothing swept');
      assert.ok(blocked.unreadable.includes(patch), blocked.unreadable.join());
      assert.match(gcIncomplete(blocked) ?? '', /chunks in use cannot be read .*virtvault forget/);
      if (base !== ZERO_DIGEST_HEX) {
        await stat(chunkFile(dir, base)); // the patch's base was not swept
      }
      // the chunk back (a false alarm): the next GC sweeps
      await rename(`${chunkFile(dir, patch)}.bad`, chunkFile(dir, patch));
      const swept = await collectGarbage(later, { skewMarginMs: 0 });
      assert.deepEqual(swept.unreadable, []);
      assert.equal(gcIncomplete(swept), null);
      assert.ok(swept.swept > 0, 'the pruned snapshot’s own chunks are freed');
    } finally {
      await later.close();
    }
    for (const [id, digest] of expected) {
      assert.equal(sha(await readSnapshot(repo, id)), digest, `snapshot ${id} after GC`);
    }
  });
});

async function writeFull(repo: Repository, image: Buffer): Promise<string> {
  const w = new SnapshotWriter(repo, { domain: DOMAIN, snapshotId: 's00' });
  await w.open();
  await w.startDisk({ target: 'vda', virtualSize: SIZE, source: 's', format: 'qcow2' });
  await Promise.all(
    Array.from({ length: SIZE / CS }, (_, i) =>
      w.putSlot('vda', i, image.subarray(i * CS, (i + 1) * CS)),
    ),
  );
  await w.commit(commitInfo());
  return 's00';
}

/** Random 64 KiB writes into `image`, stored as one patch per touched slot. */
async function writeIncremental(
  repo: Repository,
  id: string,
  parent: string,
  image: Buffer,
  writes: number,
): Promise<void> {
  const bySlot = new Map<number, Map<number, Buffer>>();
  for (let i = 0; i < writes; i++) {
    const block = randomInt(SIZE / BLOCK);
    const data = rnd(BLOCK);
    data.copy(image, block * BLOCK);
    const slot = Math.floor((block * BLOCK) / CS);
    const m = bySlot.get(slot) ?? new Map<number, Buffer>();
    m.set((block * BLOCK) % CS, data);
    bySlot.set(slot, m);
  }
  const w = new SnapshotWriter(repo, { domain: DOMAIN, snapshotId: id, parent });
  await w.open();
  await w.startDisk({ target: 'vda', virtualSize: SIZE, source: 's', format: 'qcow2' });
  await Promise.all(
    [...bySlot].map(([slot, m]) =>
      w.putPatch(
        'vda',
        slot,
        [...m].map(([offsetInSlot, data]) => ({ offsetInSlot, data })),
      ),
    ),
  );
  await w.commit(commitInfo('incremental'));
}

/** Patch chain depth: 1 + depth of the base when the base is itself a patch. */
async function patchDepth(repo: Repository, digest: string): Promise<number> {
  let depth = 0;
  let d = digest;
  while (d !== ZERO_DIGEST_HEX && (await chunkKind(repo, d)) === ChunkKind.patch) {
    depth++;
    d = (await readPatch(repo, d)).base;
  }
  return depth;
}

describe('patches: one data chunk per patch, sparse slots over zeros', () => {
  const fx = useRepo();

  it('packs a patch’s new ranges into one chunk, names zero ranges by the zero digest', async () => {
    const { repo } = fx;
    const parent = rnd(2 * CS);
    await writeTwoSlots(repo, 'p0', parent);

    // slot 0: three ranges (one of zeros) over the parent, laid end to end in a lent buffer;
    // slot 1: replaced by its data over zeros (a sparse slot)
    const a = rnd(BLOCK);
    const c = rnd(3 * BLOCK);
    const inc = new SnapshotWriter(repo, { domain: DOMAIN, snapshotId: 'p1', parent: 'p0' });
    await inc.open();
    await inc.startDisk({ target: 'vda', virtualSize: 2 * CS, source: 's', format: 'qcow2' });
    const lent = inc.takeBuffer(5 * BLOCK);
    a.copy(lent, 0);
    lent.fill(0, BLOCK, 2 * BLOCK);
    c.copy(lent, 2 * BLOCK);
    const ranges = [
      { offsetInSlot: 0, data: lent.subarray(0, BLOCK) },
      { offsetInSlot: 4 * BLOCK, data: lent.subarray(BLOCK, 2 * BLOCK) },
      { offsetInSlot: 8 * BLOCK, data: lent.subarray(2 * BLOCK) },
    ];
    await inc.putPatch('vda', 0, ranges);
    inc.giveBuffer(lent);
    const island = rnd(2 * BLOCK);
    await inc.putPatch('vda', 1, [{ offsetInSlot: 3 * BLOCK, data: island }], { overZero: true });
    await inc.commit(commitInfo('incremental'));

    const expected = Buffer.from(parent);
    a.copy(expected, 0);
    expected.fill(0, 4 * BLOCK, 5 * BLOCK);
    c.copy(expected, 8 * BLOCK);
    expected.fill(0, CS);
    island.copy(expected, CS + 3 * BLOCK);
    assert.equal(sha(await readSnapshot(repo, 'p1')), sha(expected));

    const idx = await repo.readIndex(DOMAIN.uuid, 'p1', 'vda');
    const p0 = await readPatch(repo, idx.get(0));
    assert.deepEqual(
      p0.ranges.map((r) => [r.slotOffset, r.length]),
      [
        [0, BLOCK],
        [4 * BLOCK, BLOCK],
        [8 * BLOCK, 3 * BLOCK],
      ],
    );
    const stored = p0.ranges.filter((r) => r.digest !== ZERO_DIGEST_HEX);
    assert.equal(p0.base, (await repo.readIndex(DOMAIN.uuid, 'p0', 'vda')).get(0));
    assert.equal(new Set(stored.map((r) => r.digest)).size, 1, 'one data chunk for the new bytes');
    assert.deepEqual(
      p0.ranges.map((r) => r.chunkOffset),
      [0, 0, BLOCK],
      'the zero range has no chunk; the third range follows the first in the chunk',
    );
    assert.equal(p0.ranges[1]?.digest, ZERO_DIGEST_HEX);
    const p1 = await readPatch(repo, idx.get(1));
    assert.equal(p1.base, ZERO_DIGEST_HEX, 'a sparse slot lies over zeros, not over the parent');
    assert.deepEqual(
      p1.ranges.map((r) => [r.slotOffset, r.length]),
      [[3 * BLOCK, 2 * BLOCK]],
    );
    const v = await verifyRepository(repo);
    assert.ok(v.ok, JSON.stringify(v.chunks));
  });
});

describe('patches: the chunk worker reads the slot entry and decides compaction', () => {
  const fx = useRepo();

  /** Opens an incremental of p`n-1` with one disk of two slots. */
  async function incOf(n: number, patchLimits = {}): Promise<SnapshotWriter> {
    const opts = { domain: DOMAIN, snapshotId: `c${n}`, parent: `c${n - 1}`, patchLimits };
    const w = new SnapshotWriter(fx.repo, opts);
    await w.open();
    await w.startDisk({ target: 'vda', virtualSize: 2 * CS, source: 's', format: 'qcow2' });
    return w;
  }

  it('compacts a too wide patch and one with too many ranges, byte-exact', async () => {
    const { repo } = fx;
    const expected = rnd(2 * CS);
    await writeTwoSlots(repo, 'c0', expected);

    // c1: slot 0 gets 9 of 16 blocks (over half of a data base), slot 1 one block
    const wide = rnd(9 * BLOCK);
    const one = rnd(BLOCK);
    const c1 = await incOf(1);
    await c1.putPatch('vda', 0, [{ offsetInSlot: 2 * BLOCK, data: wide }]);
    await c1.putPatch('vda', 1, [{ offsetInSlot: 5 * BLOCK, data: one }]);
    await c1.commit(commitInfo('incremental'));
    wide.copy(expected, 2 * BLOCK);
    one.copy(expected, CS + 5 * BLOCK);
    let idx = await repo.readIndex(DOMAIN.uuid, 'c1', 'vda');
    assert.equal(await chunkKind(repo, idx.get(0)), ChunkKind.data, 'too wide: compacted');
    assert.equal(await chunkKind(repo, idx.get(1)), ChunkKind.patch);
    assert.equal(sha(await readSnapshot(repo, 'c1')), sha(expected));

    // c2: two more ranges on slot 1's patch make three, over a limit of two
    const x = rnd(BLOCK);
    const y = rnd(BLOCK);
    const c2 = await incOf(2, { maxRanges: 2 });
    await c2.putPatch('vda', 1, [
      { offsetInSlot: 0, data: x },
      { offsetInSlot: 10 * BLOCK, data: y },
    ]);
    await c2.commit(commitInfo('incremental'));
    x.copy(expected, CS);
    y.copy(expected, CS + 10 * BLOCK);
    idx = await repo.readIndex(DOMAIN.uuid, 'c2', 'vda');
    assert.equal(await chunkKind(repo, idx.get(1)), ChunkKind.data, 'too many ranges: compacted');
    assert.equal(sha(await readSnapshot(repo, 'c2')), sha(expected));
    const v = await verifyRepository(repo);
    assert.ok(v.ok, JSON.stringify(v.chunks));
  });

  it('fails with REPO_CHUNK_MISSING when the parent’s entry is gone; the abort leaves nothing', async () => {
    const { repo } = fx;
    const idx = await repo.readIndex(DOMAIN.uuid, 'c2', 'vda');
    await rm(repo.chunkPath(idx.get(0)));
    const c3 = await incOf(3);
    // a small patch waits in a pack: its failure is the commit's
    await c3.putPatch('vda', 0, [{ offsetInSlot: 0, data: rnd(BLOCK) }]);
    await assert.rejects(c3.commit(commitInfo('incremental')), { code: 'REPO_CHUNK_MISSING' });
    await c3.abort();
    const ids = (await repo.listSnapshots(DOMAIN.uuid)).map((r) => r.id);
    assert.deepEqual(ids, ['c0', 'c1', 'c2']);
  });
});

/** Commits full snapshot `id` of one disk of two slots holding `bytes`. */
async function writeTwoSlots(repo: Repository, id: string, bytes: Buffer): Promise<void> {
  const w = new SnapshotWriter(repo, { domain: DOMAIN, snapshotId: id });
  await w.open();
  await w.startDisk({ target: 'vda', virtualSize: 2 * CS, source: 's', format: 'qcow2' });
  await w.putSlot('vda', 0, bytes.subarray(0, CS));
  await w.putSlot('vda', 1, bytes.subarray(CS));
  await w.commit(commitInfo());
}

/** A fresh repository for one suite: created before its tests, removed after them. */
function useRepo(): { repo: Repository; dir: string } {
  const fx = { repo: undefined as unknown as Repository, dir: '' };
  let cleanup: () => Promise<void> = () => Promise.resolve();
  before(async () => {
    ({ dir: fx.dir, cleanup } = await tempDir());
    fx.repo = await Repository.init(fx.dir, { chunkSize: CS, workers: 2, compressionLevel: 1 });
  });
  after(async () => {
    await fx.repo.close();
    await cleanup();
  });
  return fx;
}
