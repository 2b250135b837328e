import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';

import { ChunkKind, ZERO_DIGEST_HEX } from '../format/constants.js';
import { Repository, SnapshotWriter, verifyRepository } from '../index.js';
import { chunkKind, readPatch } from '../resolve.js';
import { layOutPack } from '../worker/pack-job.js';
import { commitInfo, DOMAIN, readSnapshot, rnd, tempDir } from './helpers.js';

const CS = 1024 * 1024;
const BLOCK = 64 * 1024;
const SLOTS = 16;

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** A fresh repository of 1 MiB slots for one suite: created before its tests, removed after. */
function useRepo(): { repo: Repository } {
  const fx = { repo: undefined as unknown as Repository };
  let cleanup: () => Promise<void> = () => Promise.resolve();
  before(async () => {
    const t = await tempDir();
    cleanup = t.cleanup;
    fx.repo = await Repository.init(t.dir, { chunkSize: CS, workers: 2, compressionLevel: 1 });
  });
  after(async () => {
    await fx.repo.close();
    await cleanup();
  });
  return fx;
}

describe('packs: small patches of an incremental share data chunks', () => {
  const fx = useRepo();

  async function writer(id: string, parent: string | null, patchLimits = {}) {
    const opts = { domain: DOMAIN, snapshotId: id, patchLimits, ...(parent ? { parent } : {}) };
    const w = new SnapshotWriter(fx.repo, opts);
    await w.open();
    await w.startDisk({ target: 'vda', virtualSize: SLOTS * CS, source: 's', format: 'qcow2' });
    return w;
  }

  /** Data chunks named by the non-zero ranges of every patch of snapshot `id`. */
  async function rangeChunks(id: string): Promise<{ chunks: Set<string>; zeroRanges: number }> {
    const idx = await fx.repo.readIndex(DOMAIN.uuid, id, 'vda');
    const chunks = new Set<string>();
    let zeroRanges = 0;
    for (let s = 0; s < idx.slotCount; s++) {
      if ((await chunkKind(fx.repo, idx.get(s))) !== ChunkKind.patch) {
        continue;
      }
      for (const r of (await readPatch(fx.repo, idx.get(s))).ranges) {
        if (r.digest === ZERO_DIGEST_HEX) {
          zeroRanges++;
        } else {
          chunks.add(r.digest);
        }
      }
    }
    return { chunks, zeroRanges };
  }

  it('stores the new bytes of 16 slots in a few chunks, zeros in none, byte-exact', async () => {
    const image = rnd(SLOTS * CS);
    const full = await writer('k0', null);
    for (let s = 0; s < SLOTS; s++) {
      await full.putSlot('vda', s, image.subarray(s * CS, (s + 1) * CS));
    }
    await full.commit(commitInfo());
    const inc = await writer('k1', 'k0');
    for (let s = 0; s < SLOTS; s++) {
      const a = rnd(BLOCK);
      const zeros = Buffer.alloc(BLOCK); // read from the source, happens to be zeros
      const hole = Buffer.alloc(BLOCK); // known zeros (`zero`), never copied
      await inc.putPatch('vda', s, [
        { offsetInSlot: BLOCK, data: a },
        { offsetInSlot: 4 * BLOCK, data: zeros },
        { offsetInSlot: 8 * BLOCK, data: hole, zero: true },
      ]);
      a.copy(image, s * CS + BLOCK);
      image.fill(0, s * CS + 4 * BLOCK, s * CS + 5 * BLOCK);
      image.fill(0, s * CS + 8 * BLOCK, s * CS + 9 * BLOCK);
    }
    await inc.commit(commitInfo('incremental'));
    assert.equal(sha(await readSnapshot(fx.repo, 'k1')), sha(image));
    const { chunks, zeroRanges } = await rangeChunks('k1');
    assert.equal(zeroRanges, 2 * SLOTS, 'both zero ranges of every slot are named by zeros');
    assert.ok(chunks.size >= 1 && chunks.size <= 2, `16 slots' bytes in ${chunks.size} chunk(s)`);
    const v = await verifyRepository(fx.repo);
    assert.ok(v.ok, JSON.stringify(v.chunks));
  });

  it('compacts the slots of a pack that exceed the limits and patches the others', async () => {
    const image = await readSnapshot(fx.repo, 'k1');
    // every slot of k1 is a patch of three ranges
    const inc = await writer('k2', 'k1', { maxRanges: 4 });
    const two = [rnd(BLOCK), rnd(BLOCK)];
    // two more ranges exceed maxRanges: slot 0 becomes a data chunk again; one more does not
    await inc.putPatch('vda', 0, [
      { offsetInSlot: 10 * BLOCK, data: two[0] as Buffer },
      { offsetInSlot: 12 * BLOCK, data: two[1] as Buffer },
    ]);
    (two[0] as Buffer).copy(image, 10 * BLOCK);
    (two[1] as Buffer).copy(image, 12 * BLOCK);
    const one = rnd(BLOCK);
    await inc.putPatch('vda', 1, [{ offsetInSlot: 0, data: one }]);
    one.copy(image, CS);
    await inc.commit(commitInfo('incremental'));
    assert.equal(sha(await readSnapshot(fx.repo, 'k2')), sha(image));
    const idx = await fx.repo.readIndex(DOMAIN.uuid, 'k2', 'vda');
    assert.equal(await chunkKind(fx.repo, idx.get(0)), ChunkKind.data, 'slot 0 compacted');
    assert.equal(await chunkKind(fx.repo, idx.get(1)), ChunkKind.patch, 'slot 1 patched');
    const v = await verifyRepository(fx.repo);
    assert.ok(v.ok, JSON.stringify(v.chunks));
  });
});

describe('packs: a compaction reads the slot from the source when it can', () => {
  const fx = useRepo();

  async function writer(id: string, parent: string | null) {
    const opts = {
      domain: DOMAIN,
      snapshotId: id,
      patchLimits: { maxRanges: 2 },
      ...(parent ? { parent } : {}),
    };
    const w = new SnapshotWriter(fx.repo, opts);
    await w.open();
    await w.startDisk({ target: 'vda', virtualSize: 2 * CS, source: 's', format: 'qcow2' });
    return w;
  }

  it('stores what `whole` reads for a compacted slot, and only for it', async () => {
    const source = rnd(2 * CS);
    const full = await writer('w0', null);
    await full.putSlot('vda', 0, source.subarray(0, CS));
    await full.putSlot('vda', 1, source.subarray(CS));
    await full.commit(commitInfo());
    const inc = await writer('w1', 'w0');
    const asked: number[] = [];
    const whole = (slot: number) => (): Promise<Uint8Array> => {
      asked.push(slot);
      return Promise.resolve(Buffer.from(source.subarray(slot * CS, (slot + 1) * CS)));
    };
    const three = [rnd(BLOCK), rnd(BLOCK), rnd(BLOCK)];
    three.forEach((b, i) => b.copy(source, 2 * i * BLOCK));
    await inc.putPatch(
      'vda',
      0,
      three.map((data, i) => ({ offsetInSlot: 2 * i * BLOCK, data })),
      { whole: whole(0) },
    );
    const one = rnd(BLOCK);
    one.copy(source, CS);
    await inc.putPatch('vda', 1, [{ offsetInSlot: 0, data: one }], { whole: whole(1) });
    await inc.flushDisk('vda');
    assert.deepEqual(asked, [0], 'three ranges exceed maxRanges 2: slot 0 only is read whole');
    await inc.commit(commitInfo('incremental'));
    assert.equal(sha(await readSnapshot(fx.repo, 'w1')), sha(source));
    const idx = await fx.repo.readIndex(DOMAIN.uuid, 'w1', 'vda');
    assert.equal(await chunkKind(fx.repo, idx.get(0)), ChunkKind.data);
    assert.equal(await chunkKind(fx.repo, idx.get(1)), ChunkKind.patch);
  });

  it('fails flushDisk and the commit when the source cannot be read', async () => {
    const inc = await writer('w2', 'w1');
    const ranges = [0, 2, 4].map((b) => ({ offsetInSlot: b * BLOCK, data: rnd(BLOCK) }));
    await inc.putPatch('vda', 0, ranges, {
      whole: () => Promise.reject(new Error('source gone')),
    });
    await assert.rejects(inc.flushDisk('vda'), /source gone/);
    await assert.rejects(inc.commit(commitInfo('incremental')), /source gone/);
    await inc.abort();
    const ids = (await fx.repo.listSnapshots(DOMAIN.uuid)).map((r) => r.id);
    assert.deepEqual(ids, ['w0', 'w1']);
  });
});

describe('packs: layout', () => {
  const slot = (ats: (number | null)[]) => ({
    current: ZERO_DIGEST_HEX,
    slotLength: CS,
    ranges: ats.map((at, i) => ({ slotOffset: i * 8, length: 4, at })),
  });
  const isZero = (b: Buffer): boolean => b.every((x) => x === 0);

  it('moves kept bytes together and names zeros by the zero digest', () => {
    const payload = Buffer.from([1, 1, 1, 1, 0, 0, 0, 0, 3, 3, 3, 3]);
    const lay = layOutPack(payload, [slot([0, 4]), slot([null, 8])], [false, false], isZero, 'Z');
    assert.equal(lay.dataLength, 8);
    assert.deepEqual(payload.subarray(0, 8), Buffer.from([1, 1, 1, 1, 3, 3, 3, 3]));
    assert.deepEqual(
      lay.ranges.map((rs) => rs.map((r) => [r.digest, r.chunkOffset])),
      [
        [
          ['', 0],
          ['Z', 0],
        ],
        [
          ['Z', 0],
          ['', 4],
        ],
      ],
    );
  });

  it('leaves every byte in place when a slot is compacted (its bytes are read back)', () => {
    const payload = Buffer.from([0, 0, 0, 0, 2, 2, 2, 2, 3, 3, 3, 3]);
    const lay = layOutPack(
      payload,
      [slot([0]), slot([4]), slot([8])],
      [false, true, false],
      isZero,
      'Z',
    );
    assert.equal(lay.dataLength, 12);
    assert.deepEqual(payload, Buffer.from([0, 0, 0, 0, 2, 2, 2, 2, 3, 3, 3, 3]));
    assert.deepEqual(lay.ranges[1], []);
    assert.deepEqual(
      lay.ranges[2]?.map((r) => r.chunkOffset),
      [8],
    );
    assert.equal(lay.ranges[0]?.[0]?.digest, 'Z');
  });
});
