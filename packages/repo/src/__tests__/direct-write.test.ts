import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';

import { CHUNK_HEADER_BYTES } from '../format/constants.js';
import { Repository, SnapshotWriter } from '../index.js';
import { commitInfo, DOMAIN, readSnapshot, rnd } from './helpers.js';

const CS = 1024 * 1024;

/**
 * Chunks of 1 MiB and more are written with O_DIRECT for their whole blocks and through the page
 * cache for the unaligned tail that the 16-byte header makes. Each case writes slots whose stored
 * length is unaligned (raw random data) or arbitrary (compressed), then checks every chunk file's
 * size against its header's promise and the snapshot byte for byte.
 */
async function roundTrip(parent: string): Promise<void> {
  const dir = await mkdtemp(path.join(parent, 'vv-direct-'));
  const repo = await Repository.init(dir, { chunkSize: CS, workers: 2 });
  try {
    const size = CS * 4 + 12345;
    const disk = rnd(size);
    // a compressible slot: its stored length is whatever zstd makes of it
    disk.fill(7, CS, CS + CS / 2);
    const w = new SnapshotWriter(repo, { domain: DOMAIN, snapshotId: 'direct-1' });
    await w.open();
    await w.startDisk({ target: 'vda', virtualSize: size, source: '/d.qcow2', format: 'qcow2' });
    for (let i = 0; i * CS < size; i++) {
      await w.putSlot('vda', i, disk.subarray(i * CS, Math.min(size, (i + 1) * CS)));
    }
    await w.commit(commitInfo());
    assert.ok((await readSnapshot(repo, 'direct-1')).equals(disk));
    const sizes = await chunkSizes(dir);
    // four raw random slots of 1 MiB and more plus the short last one: header + payload exactly
    assert.equal(sizes.filter((n) => n === CHUNK_HEADER_BYTES + CS).length, 3);
    assert.ok(sizes.includes(CHUNK_HEADER_BYTES + 12345));
    assert.equal(sizes.length, 5);
  } finally {
    await repo.close();
    await rm(dir, { recursive: true, force: true });
  }
}

/** Sizes of every chunk file of the repository at `dir` (no temp files may be left). */
async function chunkSizes(dir: string): Promise<number[]> {
  const out: number[] = [];
  for (const sub of await readdir(path.join(dir, 'chunks'))) {
    for (const f of await readdir(path.join(dir, 'chunks', sub))) {
      assert.ok(!f.startsWith('.tmp-'), `temp file left: ${f}`);
      out.push((await stat(path.join(dir, 'chunks', sub, f))).size);
    }
  }
  return out;
}

describe('large chunk files', () => {
  it('are written whole on a filesystem that takes O_DIRECT (the temp folder)', async () => {
    await roundTrip(os.tmpdir());
  });

  it('are written whole on tmpfs, which refuses O_DIRECT (buffered from then on)', async () => {
    await roundTrip('/dev/shm');
  });
});
