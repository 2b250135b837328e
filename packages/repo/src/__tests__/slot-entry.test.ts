import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { chunkDigest, chunkHeaderFor } from '../format/chunk-codec.js';
import {
  ChunkKind,
  PATCH_MAX_FILE_BYTES,
  PATCH_MAX_RANGES,
  ZERO_DIGEST_HEX,
} from '../format/constants.js';
import { decodePatch, encodePatch, type PatchRange } from '../format/patch.js';
import { chunkFile } from '../validate.js';
import { patchStart } from '../worker/slot-entry.js';
import { tempDir } from './helpers.js';

const SLOT = 4 * 1024 * 1024;

/** `count` ranges of 16 bytes, 64 KiB apart, all read from `digest`. */
function ranges(count: number, digest: string): PatchRange[] {
  return Array.from({ length: count }, (_, i) => ({
    slotOffset: i * 65536,
    length: 16,
    digest,
    chunkOffset: i * 16,
  }));
}

describe('a slot entry read for a new patch over it', () => {
  let root = '';
  let cleanup = (): Promise<void> => Promise.resolve();
  before(async () => {
    ({ dir: root, cleanup } = await tempDir());
  });
  after(() => cleanup());

  /** Stores `payload` raw as a chunk of `kind` (or `file` in its place); returns its name. */
  function put(kind: ChunkKind, payload: Buffer, file?: Buffer): string {
    const digest = chunkDigest('sha256', kind, payload);
    const where = chunkFile(root, digest);
    mkdirSync(path.dirname(where), { recursive: true });
    writeFileSync(
      where,
      file ?? Buffer.concat([chunkHeaderFor(kind, payload.length, null), payload]),
    );
    return digest;
  }

  it('starts over zeros from the zero digest, reading nothing', () => {
    assert.deepEqual(patchStart(root, ZERO_DIGEST_HEX, 'sha256'), {
      base: ZERO_DIGEST_HEX,
      old: [],
    });
  });

  it('takes a chunk larger than any patch for a data chunk by its size, without reading it', () => {
    const payload = randomBytes(PATCH_MAX_FILE_BYTES);
    // bytes that no reader would accept: only the size can have told
    const d = put(ChunkKind.data, payload, Buffer.alloc(PATCH_MAX_FILE_BYTES + 1, 0xee));
    assert.deepEqual(patchStart(root, d, 'sha256'), { base: d, old: [] });
  });

  it('reads the header of a small data chunk', () => {
    const d = put(ChunkKind.data, randomBytes(100));
    assert.deepEqual(patchStart(root, d, 'sha256'), { base: d, old: [] });
  });

  it('reads a patch of the most ranges a patch may hold (its file is the largest a patch can be)', () => {
    const base = put(ChunkKind.data, randomBytes(8192));
    const old = ranges(PATCH_MAX_RANGES, base);
    const payload = encodePatch({ base, slotLength: SLOT, ranges: old });
    const p = put(ChunkKind.patch, payload);
    assert.equal(16 + payload.length, PATCH_MAX_FILE_BYTES);
    assert.deepEqual(patchStart(root, p, 'sha256'), { base, old });
  });

  it('fails REPO_CHUNK_MISSING for an entry whose chunk is gone', () => {
    assert.throws(() => patchStart(root, 'ab'.repeat(32), 'sha256'), {
      code: 'REPO_CHUNK_MISSING',
    });
  });
});

describe('the patch format bounds a patch to 64 ranges', () => {
  const base = 'cd'.repeat(32);

  it('refuses to encode more ranges', () => {
    const p = { base, slotLength: SLOT, ranges: ranges(PATCH_MAX_RANGES + 1, base) };
    assert.throws(() => encodePatch(p), { code: 'REPO_BAD_ARGUMENT' });
  });

  it('rejects a payload holding more ranges as corrupt', () => {
    const ok = encodePatch({ base, slotLength: SLOT, ranges: ranges(PATCH_MAX_RANGES, base) });
    const extra = Buffer.alloc(48);
    extra.writeUInt32LE(PATCH_MAX_RANGES * 65536, 0);
    extra.writeUInt32LE(16, 4);
    extra.write(base, 16, 'hex');
    const more = Buffer.concat([ok, extra]);
    more.writeUInt32LE(PATCH_MAX_RANGES + 1, 36);
    assert.throws(() => decodePatch(more, 'ef'.repeat(32)), { code: 'REPO_CHUNK_CORRUPT' });
    assert.equal(decodePatch(ok, 'ef'.repeat(32)).ranges.length, PATCH_MAX_RANGES);
  });
});
