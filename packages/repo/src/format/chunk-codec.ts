import { createHash } from 'node:crypto';

import { Compressor, Decompressor } from 'zstd-napi';

import { RepoError } from '../errors.js';
import { ChunkKind, Codec, PATCH_DIGEST_PREFIX } from './constants.js';
import { decodeChunkHeader, encodeChunkHeader } from './chunk-header.js';

/** A chunk ready to be stored: its name and the exact bytes of its file. */
export interface EncodedChunk {
  /** Hex SHA-256 name. */
  digest: string;
  /** The 16-byte header. */
  header: Buffer;
  /** The stored payload that follows it (written separately: no 4 MiB concatenation). */
  stored: Uint8Array;
  /** Codec chosen (raw when compression did not shrink the payload). */
  codec: Codec;
}

/** The decoded content of a chunk file. */
export interface DecodedChunk {
  /** Data chunk or patch. */
  kind: ChunkKind;
  /** The uncompressed payload. */
  payload: Buffer;
}

/** Computes a chunk's name: SHA-256 of the payload; patches are hashed after a fixed prefix. */
export function chunkDigest(kind: ChunkKind, payload: Uint8Array): string {
  const h = createHash('sha256');
  if (kind === ChunkKind.patch) {
    h.update(PATCH_DIGEST_PREFIX);
  }
  return h.update(payload).digest('hex');
}

/** A reusable encoder (one zstd context per instance; not shared across threads). */
export class ChunkEncoder {
  readonly #zstd: Compressor | null;

  /** @param level zstd level; 0 or less disables compression (everything stored raw). */
  constructor(level: number) {
    if (level > 0) {
      this.#zstd = new Compressor();
      this.#zstd.setParameters({ compressionLevel: level });
    } else {
      this.#zstd = null;
    }
  }

  /** Hashes and compresses `payload`; keeps it raw when compression does not shrink it. */
  encode(kind: ChunkKind, payload: Uint8Array, digest?: string): EncodedChunk {
    const name = digest ?? chunkDigest(kind, payload);
    let stored: Uint8Array = payload;
    let codec: Codec = Codec.raw;
    if (this.#zstd !== null && payload.length > 64) {
      const z = this.#zstd.compress(payload);
      if (z.length < payload.length) {
        stored = z;
        codec = Codec.zstd;
      }
    }
    const header = encodeChunkHeader({
      kind,
      codec,
      rawLength: payload.length,
      storedLength: stored.length,
    });
    return { digest: name, header, stored, codec };
  }
}

const decompressor = new Decompressor();

/**
 * Decodes a chunk file and proves its name: header checks, decompression, SHA-256.
 * Throws `REPO_CHUNK_CORRUPT` naming the chunk.
 */
export function decodeChunk(file: Buffer, digest: string): DecodedChunk {
  const h = decodeChunkHeader(file, digest);
  const stored = file.subarray(file.length - h.storedLength);
  let payload: Buffer;
  try {
    payload = h.codec === Codec.zstd ? decompressor.decompress(stored) : stored;
  } catch (e) {
    throw new RepoError('REPO_CHUNK_CORRUPT', `chunk ${digest} is corrupt: cannot decompress`, {
      cause: e,
    });
  }
  if (payload.length !== h.rawLength || chunkDigest(h.kind, payload) !== digest) {
    throw new RepoError('REPO_CHUNK_CORRUPT', `chunk ${digest} is corrupt: digest mismatch`);
  }
  return { kind: h.kind, payload };
}
