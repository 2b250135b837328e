/**
 * Reads a slot's current entry synchronously, in a chunk worker: a new patch over it starts from
 * its base and ranges. Done here rather than on the main thread, where an incremental's ~800 header
 * and patch reads (each a trip through libuv's pool) cost about half a second of the thread that
 * also drives NBD. A data chunk is told by its file's size alone when it is larger than any patch
 * can be: one `stat` instead of an open, a read of its first block and a close. On a cold page
 * cache (a nightly incremental's) those reads waited on the repository's disk one after another.
 */
import fs from 'node:fs';

import { RepoError } from '../errors.js';
import { decodeChunk } from '../format/chunk-codec.js';
import { decodeChunkHeader } from '../format/chunk-header.js';
import {
  CHUNK_HEADER_BYTES,
  type ChunkHash,
  ChunkKind,
  PATCH_MAX_FILE_BYTES,
  ZERO_DIGEST_HEX,
} from '../format/constants.js';
import { decodePatch, type PatchRange } from '../format/patch.js';
import { chunkFile } from '../validate.js';

/** What a patch over a slot entry lays its ranges on. */
export interface PatchStart {
  /** A data chunk or the zero digest (never a patch: the depth stays 1). */
  base: string;
  /** The ranges of the patch being replaced; empty over data or zeros. */
  old: PatchRange[];
}

/**
 * The base and ranges a patch over entry `current` starts from: zeros, a data chunk (its size or,
 * for a small one, its header tells), or a patch's own base and ranges (the patch is read and
 * verified). Throws `REPO_CHUNK_MISSING`, `REPO_CHUNK_CORRUPT` or `REPO_INVALID_ID`.
 */
export function patchStart(root: string, current: string, hash: ChunkHash): PatchStart {
  if (current === ZERO_DIGEST_HEX) {
    return { base: current, old: [] };
  }
  const file = chunkFile(root, current);
  const size = fs.statSync(file, { throwIfNoEntry: false })?.size;
  if (size === undefined) {
    throw new RepoError('REPO_CHUNK_MISSING', `chunk ${current} is missing`);
  }
  if (size > PATCH_MAX_FILE_BYTES) {
    return { base: current, old: [] };
  }
  return readStart(file, current, hash);
}

/** {@link patchStart} for a chunk file small enough to be a patch: its header says which. */
function readStart(file: string, current: string, hash: ChunkHash): PatchStart {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (e) {
    throw new RepoError('REPO_CHUNK_MISSING', `chunk ${current} is missing`, { cause: e });
  }
  try {
    const size = fs.fstatSync(fd).size;
    const head = Buffer.alloc(CHUNK_HEADER_BYTES);
    readFully(fd, head, current);
    if (decodeChunkHeader(head, current, size).kind === ChunkKind.data) {
      return { base: current, old: [] };
    }
    const whole = Buffer.alloc(size);
    readFully(fd, whole, current);
    const p = decodePatch(decodeChunk(whole, current, hash).payload, current);
    return { base: p.base, old: p.ranges };
  } finally {
    fs.closeSync(fd);
  }
}

/** Fills `buf` from the start of the file; a short file is corrupt. */
function readFully(fd: number, buf: Buffer, digest: string): void {
  for (let off = 0; off < buf.length;) {
    const n = fs.readSync(fd, buf, off, buf.length - off, off);
    if (n === 0) {
      throw new RepoError('REPO_CHUNK_CORRUPT', `chunk ${digest} is truncated`);
    }
    off += n;
  }
}
