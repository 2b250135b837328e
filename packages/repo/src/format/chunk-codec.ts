import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';

import type * as Zstd from 'zstd-napi/binding.js';

import { RepoError } from '../errors.js';
import { type Blake3 as Hasher, usableBlake3 } from './blake3.js';
import { type ChunkHash, ChunkKind, Codec, PATCH_DIGEST_PREFIX } from './constants.js';
import { decodeChunkHeader, encodeChunkHeader } from './chunk-header.js';

let binding: typeof Zstd | null = null;

/**
 * zstd's low-level binding (it compresses into a caller's buffer; the Compressor class allocates
 * one), loaded on first use: a command that never compresses or decompresses (a backup's main
 * thread until it commits) does not pay for loading it before its lineage starts.
 */
function zstd(): typeof Zstd {
  binding ??= createRequire(import.meta.url)('zstd-napi/binding') as typeof Zstd;
  return binding;
}

/** The decoded content of a chunk file. */
export interface DecodedChunk {
  /** Data chunk or patch. */
  kind: ChunkKind;
  /** The uncompressed payload. */
  payload: Buffer;
}

/**
 * Computes a chunk's name: the repository's digest (BLAKE3 or SHA-256) of the payload; patches are
 * hashed after a fixed prefix.
 */
export function chunkDigest(hash: ChunkHash, kind: ChunkKind, payload: Uint8Array): string {
  const h: Hasher = hash === 'blake3' ? new (usableBlake3())() : createHash('sha256');
  if (kind === ChunkKind.patch) {
    h.update(PATCH_DIGEST_PREFIX);
  }
  return h.update(payload).digest('hex');
}

/** Payloads from this size on are sampled before being compressed whole. */
const SAMPLED_FROM = 256 * 1024;
/** Bytes per sample, and samples per payload (spread evenly). */
const SAMPLE_BYTES = 16 * 1024;
const SAMPLES = 4;
/** A sample must shrink below this fraction for the payload to be worth compressing. */
const WORTH_RATIO = 0.95;

/**
 * A reusable compressor (one zstd context; not shared across threads). Compresses into the
 * caller's buffer, so no output buffer is allocated per chunk.
 */
export class ChunkEncoder {
  readonly #cctx: Zstd.CCtx | null;
  readonly #level: number;
  readonly #sampleOut = Buffer.allocUnsafe(zstd().compressBound(SAMPLE_BYTES));

  /** @param level zstd level; 0 or less disables compression (everything stored raw). */
  constructor(level: number) {
    this.#level = level;
    this.#cctx = level > 0 ? new (zstd().CCtx)() : null;
  }

  /**
   * Compresses `payload` into `out` when that shrinks it; returns the compressed length, or null
   * to store it raw. Large payloads are sampled first: random-looking data (encrypted disks,
   * compressed files) costs zstd level 1 ~1.2 s per GiB for nothing.
   */
  compressInto(payload: Uint8Array, out: Uint8Array): number | null {
    if (this.#cctx === null || payload.length <= 64 || !this.#worthCompressing(payload)) {
      return null;
    }
    const n = this.#tryCompress(payload, out.subarray(0, payload.length - 1));
    return n !== null && n < payload.length ? n : null;
  }

  #worthCompressing(payload: Uint8Array): boolean {
    if (payload.length < SAMPLED_FROM) {
      return true;
    }
    const step = Math.floor(payload.length / SAMPLES);
    for (let i = 0; i < SAMPLES; i++) {
      const sample = payload.subarray(i * step, i * step + SAMPLE_BYTES);
      const n = this.#tryCompress(sample, this.#sampleOut);
      if (n !== null && n < sample.length * WORTH_RATIO) {
        return true;
      }
    }
    return false;
  }

  /** Compressed length, or null when it does not fit `out` (zstd reports dstSize too small). */
  #tryCompress(src: Uint8Array, out: Uint8Array): number | null {
    try {
      return this.#cctx?.compress(out, src, this.#level) ?? null;
    } catch {
      return null;
    }
  }
}

/** Encodes a chunk header for a payload stored raw or compressed. */
export function chunkHeaderFor(
  kind: ChunkKind,
  rawLength: number,
  compressed: number | null,
): Buffer {
  return encodeChunkHeader({
    kind,
    codec: compressed === null ? Codec.raw : Codec.zstd,
    rawLength,
    storedLength: compressed ?? rawLength,
  });
}

/**
 * A reusable decoder (one zstd context; not shared across threads) that decodes into the caller's
 * buffer. A fresh buffer per chunk costs a page fault per 4 KiB on first touch, which on the lab
 * machine made a restore's reads several times slower than the copies they did.
 */
export class ChunkDecoder {
  readonly #dctx = new (zstd().DCtx)();
  readonly #hash: ChunkHash;

  /** @param hash the repository's digest algorithm */
  constructor(hash: ChunkHash) {
    this.#hash = hash;
  }

  /**
   * Decodes chunk file `file` into `out` (at least the payload's length) and proves its name.
   * Returns the kind and the payload, a view of `out`. Throws `REPO_CHUNK_CORRUPT` naming `digest`.
   */
  decodeInto(file: Buffer, digest: string, out: Buffer): DecodedChunk {
    const h = decodeChunkHeader(file, digest);
    const bad = (why: string): RepoError =>
      new RepoError('REPO_CHUNK_CORRUPT', `chunk ${digest} is corrupt: ${why}`);
    if (h.rawLength > out.length) {
      throw bad(`${h.rawLength} bytes, more than a slot`);
    }
    const stored = file.subarray(file.length - h.storedLength);
    const payload = out.subarray(0, h.rawLength);
    if (h.codec === Codec.zstd) {
      let n: number;
      try {
        n = this.#dctx.decompress(payload, stored);
      } catch (e) {
        throw new RepoError('REPO_CHUNK_CORRUPT', `chunk ${digest} is corrupt: cannot decompress`, {
          cause: e,
        });
      }
      if (n !== h.rawLength) {
        throw bad('length mismatch');
      }
    } else {
      stored.copy(payload);
    }
    if (chunkDigest(this.#hash, h.kind, payload) !== digest) {
      throw bad('digest mismatch');
    }
    return { kind: h.kind, payload };
  }
}

let shared: Zstd.DCtx | null = null;

/**
 * Decodes a chunk file and proves its name: header checks, decompression, digest.
 * Throws `REPO_CHUNK_CORRUPT` naming the chunk.
 */
export function decodeChunk(file: Buffer, digest: string, hash: ChunkHash): DecodedChunk {
  const h = decodeChunkHeader(file, digest);
  const stored = file.subarray(file.length - h.storedLength);
  let payload = stored;
  if (h.codec === Codec.zstd) {
    // the header bounds rawLength (at most MAX_CHUNK_SIZE); a frame that decodes longer throws
    payload = Buffer.allocUnsafe(h.rawLength);
    try {
      shared ??= new (zstd().DCtx)();
      payload = payload.subarray(0, shared.decompress(payload, stored));
    } catch (e) {
      throw new RepoError('REPO_CHUNK_CORRUPT', `chunk ${digest} is corrupt: cannot decompress`, {
        cause: e,
      });
    }
  }
  if (payload.length !== h.rawLength || chunkDigest(hash, h.kind, payload) !== digest) {
    throw new RepoError('REPO_CHUNK_CORRUPT', `chunk ${digest} is corrupt: digest mismatch`);
  }
  return { kind: h.kind, payload };
}
