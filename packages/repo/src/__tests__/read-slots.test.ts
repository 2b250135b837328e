import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { open, readFile, rename, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { ZERO_DIGEST_HEX } from '../format/constants.js';
import { Repository, SnapshotReader, SnapshotWriter } from '../index.js';
import { commitInfo, DOMAIN, readAll, tempDir } from './helpers.js';

const K = 1024;
const CS = 1024 * K;
/** Six slots and a short, unaligned last one. */
const SIZE = 6 * CS + 5000;

/** The disk at each snapshot, as written. */
const images = new Map<string, Buffer>();

async function snapshot(
  repo: Repository,
  id: string,
  parent: string | undefined,
  put: (w: SnapshotWriter) => Promise<unknown>,
): Promise<void> {
  const w = new SnapshotWriter(repo, {
    domain: DOMAIN,
    snapshotId: id,
    ...(parent === undefined ? {} : { parent }),
  });
  await w.open();
  await w.startDisk({ target: 'vda', virtualSize: SIZE, source: 's', format: 'qcow2' });
  await put(w);
  await w.commit(commitInfo(parent === undefined ? 'full' : 'incremental'));
}

/** Lays `writes` over a copy of `image` and stores them as one patch per slot. */
async function incremental(
  repo: Repository,
  id: string,
  parent: string,
  writes: { at: number; length: number }[],
): Promise<void> {
  const image = Buffer.from(images.get(parent) ?? Buffer.alloc(0));
  const bySlot = new Map<number, { offsetInSlot: number; data: Buffer }[]>();
  for (const { at, length } of writes) {
    const data = randomBytes(length);
    data.copy(image, at);
    const slot = Math.floor(at / CS);
    bySlot.set(slot, [...(bySlot.get(slot) ?? []), { offsetInSlot: at % CS, data }]);
  }
  await snapshot(repo, id, parent, (w) =>
    Promise.all([...bySlot].map(([slot, ranges]) => w.putPatch('vda', slot, ranges))),
  );
  images.set(id, image);
}

/** The disk assembled from `readSlots` (or written by the workers into `writeTo`). */
async function viaSlots(repo: Repository, id: string, writeTo?: string): Promise<Buffer> {
  const r = new SnapshotReader(repo, DOMAIN.uuid, id);
  await r.open();
  const out = Buffer.alloc(SIZE);
  let last = -1;
  for await (const s of r.readSlots('vda', writeTo === undefined ? {} : { writeTo })) {
    assert.ok(s.offset > last, 'slots come in order');
    last = s.offset;
    for (const run of s.runs) {
      s.data.copy(out, s.offset + run.at, run.at, run.at + run.length);
    }
    s.release();
  }
  await r.close();
  return out;
}

describe('SnapshotReader.readSlots (slots resolved in the chunk workers)', () => {
  let dir = '';
  let cleanup: () => Promise<void> = () => Promise.resolve();
  let repo: Repository;

  before(async () => {
    ({ dir, cleanup } = await tempDir());
    repo = await Repository.init(dir, { chunkSize: CS, workers: 2, compressionLevel: 1 });
    const image = Buffer.alloc(SIZE);
    randomBytes(CS).copy(image, 0); // a raw data chunk
    image.fill('a compressible slot, stored with zstd. ', CS, 2 * CS);
    // slot 2 stays zero
    randomBytes(256 * K).copy(image, 3 * CS + 512 * K); // sparse: a patch over zeros
    randomBytes(CS).copy(image, 4 * CS);
    randomBytes(64 * K).copy(image, 5 * CS + 64 * K);
    randomBytes(5000).copy(image, 6 * CS);
    const slot = (i: number): Buffer => image.subarray(i * CS, Math.min(SIZE, (i + 1) * CS));
    await snapshot(repo, 's1', undefined, (w) =>
      Promise.all(
        Array.from({ length: 7 }, (_, i) =>
          i === 3
            ? w.putPatch(
                'vda',
                3,
                [{ offsetInSlot: 512 * K, data: slot(3).subarray(512 * K, 768 * K) }],
                {
                  overZero: true,
                },
              )
            : w.putSlot('vda', i, slot(i)),
        ),
      ),
    );
    images.set('s1', image);
    // patches over data, over compressed data and over a patch over zeros
    await incremental(repo, 's2', 's1', [
      { at: 128 * K, length: 64 * K },
      { at: CS + 256 * K, length: 64 * K },
      { at: 3 * CS, length: 64 * K },
      { at: 4 * CS + 64 * K, length: 64 * K },
      { at: 4 * CS + 768 * K, length: 128 * K },
    ]);
    // the slots patched again: merged patches whose ranges name two data chunks
    await incremental(repo, 's3', 's2', [
      { at: 512 * K, length: 64 * K },
      { at: 4 * CS + 256 * K, length: 64 * K },
      { at: 6 * CS, length: 4096 },
    ]);
  });
  after(async () => {
    await repo.close();
    await cleanup();
  });

  it('gives every snapshot byte-exact, as readDisk does', async () => {
    for (const id of ['s1', 's2', 's3']) {
      const r = new SnapshotReader(repo, DOMAIN.uuid, id);
      await r.open();
      const reference = await readAll(r, 'vda');
      await r.close();
      assert.ok(reference.equals(images.get(id) ?? Buffer.alloc(0)), `readDisk ${id}`);
      assert.ok((await viaSlots(repo, id)).equals(reference), `readSlots ${id}`);
    }
  });

  it('skips zero slots and zero runs', async () => {
    const r = new SnapshotReader(repo, DOMAIN.uuid, 's1');
    await r.open();
    const offsets: number[] = [];
    let bytes = 0;
    for await (const s of r.readSlots('vda')) {
      offsets.push(s.offset);
      bytes += s.runs.reduce((n, run) => n + run.length, 0);
      s.release();
    }
    await r.close();
    assert.deepEqual(offsets, [0, CS, 3 * CS, 4 * CS, 5 * CS, 6 * CS]);
    assert.equal(bytes, 3 * CS + 256 * K + 64 * K + 5000);
  });

  it('has the workers write a sparse raw file when given one', async () => {
    for (const id of ['s1', 's3']) {
      const file = path.join(dir, `${id}.raw`);
      const fh = await open(file, 'wx');
      await fh.truncate(SIZE);
      await fh.close();
      await viaSlots(repo, id, file);
      assert.ok((await readFile(file)).equals(images.get(id) ?? Buffer.alloc(0)), id);
      assert.ok((await stat(file)).blocks * 512 < SIZE - CS, 'the zero slot was not written');
    }
  });

  it('fails a corrupt or missing chunk naming it, and gives every region back', async () => {
    const index = await repo.readIndex(DOMAIN.uuid, 's1', 'vda');
    const digest = index.get(4);
    assert.notEqual(digest, ZERO_DIGEST_HEX);
    const file = repo.chunkPath(digest);
    const good = await readFile(file);
    const bad = Buffer.from(good);
    bad[bad.length - 1] = (bad.at(-1) ?? 0) ^ 0xff;
    // more failures than the arena has regions: a leaked region would hang the last read
    for (let i = 0; i < 8; i++) {
      await writeFile(file, bad);
      await assert.rejects(viaSlots(repo, 's1'), (e: Error & { code?: string }) => {
        return e.code === 'REPO_CHUNK_CORRUPT' && e.message.includes(digest);
      });
      await rename(file, `${file}.away`);
      await assert.rejects(viaSlots(repo, 's1'), (e: Error & { code?: string }) => {
        return e.code === 'REPO_CHUNK_MISSING' && e.message.includes(digest);
      });
      await writeFile(file, good);
    }
    assert.ok((await viaSlots(repo, 's1')).equals(images.get('s1') ?? Buffer.alloc(0)));
  });

  it('gives the regions back when the consumer stops early', async () => {
    for (let i = 0; i < 20; i++) {
      const r = new SnapshotReader(repo, DOMAIN.uuid, 's3');
      await r.open();
      for await (const s of r.readSlots('vda')) {
        s.release();
        break;
      }
      await r.close();
    }
    assert.ok((await viaSlots(repo, 's3')).equals(images.get('s3') ?? Buffer.alloc(0)));
  });
});
