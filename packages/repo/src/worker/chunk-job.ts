import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import { isErrno } from '../errors.js';
import type { ChunkEncoder } from '../format/chunk-codec.js';
import { chunkDigest } from '../format/chunk-codec.js';
import { ChunkKind, ZERO_DIGEST_HEX } from '../format/constants.js';

/** A job for a chunk worker: hash, compress and store one payload. */
export interface ChunkJob {
  /** Correlation id. */
  id: number;
  /** Data chunk or patch. */
  kind: ChunkKind;
  /** The payload (its buffer is transferred to the worker). */
  payload: Uint8Array;
  /** Wall-clock ms used to touch an existing chunk (injected clock). */
  nowMs: number;
  /** When true, an all-zero data payload is reported as zero and not stored. */
  detectZero: boolean;
}

/** The outcome of a chunk job. */
export interface ChunkJobResult {
  /** Correlation id. */
  id: number;
  /** Chunk name (the zero digest when `zero`). */
  digest: string;
  /** The payload was all zeros and nothing was stored. */
  zero: boolean;
  /** This job created the chunk file (false: it existed and was touched). */
  isNew: boolean;
  /** Bytes written to the chunk file (0 when not new). */
  storedBytes: number;
  /** Chunk folder name (`hh`), so the writer can fsync touched folders once before commit. */
  dir: string;
  /** The job's payload buffer, handed back so the pool can reuse it (bounded memory). */
  payload?: Uint8Array;
}

/**
 * Runs one chunk job synchronously (inside a worker thread). Storing is idempotent: an existing
 * chunk is only touched (mtime = now, which GC's lease rule relies on); a new one is written to a
 * temp file in its folder, fsynced and renamed into place.
 */
export function runChunkJob(root: string, encoder: ChunkEncoder, job: ChunkJob): ChunkJobResult {
  const payload = job.payload;
  if (job.detectZero && job.kind === ChunkKind.data && isAllZero(payload)) {
    return {
      id: job.id,
      digest: ZERO_DIGEST_HEX,
      zero: true,
      isNew: false,
      storedBytes: 0,
      dir: '',
    };
  }
  const digest = chunkDigest(job.kind, payload);
  const dir = digest.slice(0, 2);
  const target = path.join(root, 'chunks', dir, digest);
  const t = job.nowMs / 1000;
  try {
    fs.utimesSync(target, t, t);
    return { id: job.id, digest, zero: false, isNew: false, storedBytes: 0, dir };
  } catch (e) {
    if (!isErrno(e, 'ENOENT')) {
      throw e;
    }
  }
  const enc = encoder.encode(job.kind, payload, digest);
  writeDurable(target, [enc.header, enc.stored]);
  const storedBytes = enc.header.length + enc.stored.length;
  return { id: job.id, digest, zero: false, isNew: true, storedBytes, dir };
}

function writeDurable(target: string, parts: Uint8Array[]): void {
  const dir = path.dirname(target);
  fs.mkdirSync(dir, { recursive: true });
  const tmp = path.join(
    dir,
    `.tmp-${path.basename(target)}-${process.pid}-${randomBytes(6).toString('hex')}`,
  );
  const fd = fs.openSync(tmp, 'wx');
  try {
    fs.writevSync(fd, parts);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  // A concurrent writer may have renamed the same content in; replacing it is harmless.
  fs.renameSync(tmp, target);
}

/** A zero block to compare against (memcmp speed, no per-word work in JS). */
const ZEROS = Buffer.alloc(1024 * 1024);

/** True when every byte is zero. */
export function isAllZero(b: Uint8Array): boolean {
  const buf = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  for (let off = 0; off < buf.length; off += ZEROS.length) {
    const n = Math.min(ZEROS.length, buf.length - off);
    if (buf.compare(ZEROS, 0, n, off, off + n) !== 0) {
      return false;
    }
  }
  return true;
}
