import fs from 'node:fs';

import { zeroFill } from '@virtvault/core/zero-fill';

import { RepoError } from './errors.js';
import { decodeChunkHeader } from './format/chunk-header.js';
import { CHUNK_HEADER_BYTES, ChunkKind, ZERO_DIGEST_HEX } from './format/constants.js';
import { decodePatch, type Patch, type PatchRange } from './format/patch.js';
import type { Repository } from './repository.js';

/** Reads only a chunk's header to learn its kind. Throws `REPO_CHUNK_MISSING` / `REPO_CHUNK_CORRUPT`. */
export async function chunkKind(repo: Repository, digest: string): Promise<ChunkKind> {
  // open and close synchronously (a dentry lookup and a free), read through libuv's pool: the base
  // chunk was most likely written with O_DIRECT, so the read is a disk read worth overlapping,
  // while each promise round trip through the pool costs the main thread more than a syscall
  let fd: number;
  try {
    fd = fs.openSync(repo.chunkPath(digest), 'r');
  } catch (e) {
    throw new RepoError('REPO_CHUNK_MISSING', `chunk ${digest} is missing`, { cause: e });
  }
  try {
    const head = Buffer.alloc(CHUNK_HEADER_BYTES);
    await new Promise<void>((resolve, reject) =>
      fs.read(fd, head, 0, CHUNK_HEADER_BYTES, 0, (err) => (err ? reject(err) : resolve())),
    );
    return decodeChunkHeader(head, digest, fs.fstatSync(fd).size).kind;
  } finally {
    fs.closeSync(fd);
  }
}

/** Reads and verifies a patch object. */
export async function readPatch(repo: Repository, digest: string): Promise<Patch> {
  const c = await repo.readChunk(digest);
  if (c.kind !== ChunkKind.patch) {
    throw new RepoError('REPO_CHUNK_CORRUPT', `chunk ${digest} is not a patch`);
  }
  return decodePatch(c.payload, digest);
}

/** Reads a verified data chunk's payload. */
export async function readData(repo: Repository, digest: string): Promise<Buffer> {
  const c = await repo.readChunk(digest);
  if (c.kind !== ChunkKind.data) {
    throw new RepoError('REPO_CHUNK_CORRUPT', `chunk ${digest} is a patch where data was expected`);
  }
  return c.payload;
}

/**
 * Returns the bytes of one slot: zeros, a data chunk, or a patch resolved over its base. Every chunk
 * read is verified; errors name the failing chunk (`REPO_CHUNK_MISSING` / `REPO_CHUNK_CORRUPT`).
 */
export async function resolveSlot(
  repo: Repository,
  digest: string,
  slotLength: number,
): Promise<Buffer> {
  if (digest === ZERO_DIGEST_HEX) {
    return Buffer.alloc(slotLength);
  }
  const c = await repo.readChunk(digest);
  if (c.kind === ChunkKind.data) {
    return checkLength(c.payload, slotLength, digest);
  }
  const patch = decodePatch(c.payload, digest);
  if (patch.slotLength !== slotLength) {
    throw new RepoError(
      'REPO_CHUNK_CORRUPT',
      `patch ${digest} has slot length ${patch.slotLength}, expected ${slotLength}`,
    );
  }
  return applyPatch(repo, patch);
}

/** Materializes a patch: its base (data or zeros) with every range laid over it. */
export async function applyPatch(repo: Repository, patch: Patch): Promise<Buffer> {
  const out =
    patch.base === ZERO_DIGEST_HEX
      ? Buffer.alloc(patch.slotLength)
      : Buffer.from(checkLength(await readData(repo, patch.base), patch.slotLength, patch.base));
  const data = new Map<string, Buffer>();
  for (const r of patch.ranges) {
    if (r.digest !== ZERO_DIGEST_HEX && !data.has(r.digest)) {
      data.set(r.digest, await readData(repo, r.digest));
    }
  }
  layRanges(out, patch.ranges, (digest) => data.get(digest) ?? Buffer.alloc(0));
  return out;
}

/**
 * Lays a patch's ranges over `out` (which holds the base already): zeros for the zero digest,
 * else the bytes `data(digest)` returns (each range's data chunk, verified by the caller). Throws
 * `REPO_CHUNK_CORRUPT` for a range that reaches past its chunk.
 */
export function layRanges(
  out: Buffer,
  ranges: readonly PatchRange[],
  data: (digest: string) => Buffer,
): void {
  for (const r of ranges) {
    if (r.digest === ZERO_DIGEST_HEX) {
      zeroFill(out, r.slotOffset, r.slotOffset + r.length);
      continue;
    }
    const src = data(r.digest);
    if (r.chunkOffset + r.length > src.length) {
      throw new RepoError(
        'REPO_CHUNK_CORRUPT',
        `patch range reaches past the end of chunk ${r.digest}`,
      );
    }
    src.copy(out, r.slotOffset, r.chunkOffset, r.chunkOffset + r.length);
  }
}

/** `b` when it is `want` bytes long; else `REPO_CHUNK_CORRUPT` naming `digest`. */
export function checkLength(b: Buffer, want: number, digest: string): Buffer {
  if (b.length !== want) {
    throw new RepoError(
      'REPO_CHUNK_CORRUPT',
      `chunk ${digest} has ${b.length} bytes, the slot ${want}`,
    );
  }
  return b;
}
