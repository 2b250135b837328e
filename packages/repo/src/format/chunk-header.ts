import { RepoError } from '../errors.js';
import { CHUNK_HEADER_BYTES, CHUNK_MAGIC, ChunkKind, Codec, MAX_CHUNK_SIZE } from './constants.js';

/** The decoded 16-byte header of a chunk file. */
export interface ChunkHeader {
  /** Data chunk or patch. */
  kind: ChunkKind;
  /** Codec of the stored payload. */
  codec: Codec;
  /** Length of the payload once decoded. */
  rawLength: number;
  /** Length of the stored payload that follows the header. */
  storedLength: number;
}

/** Encodes a chunk header. */
export function encodeChunkHeader(h: ChunkHeader): Buffer {
  const b = Buffer.alloc(CHUNK_HEADER_BYTES);
  b.writeUInt32LE(CHUNK_MAGIC, 0);
  b.writeUInt8(1, 4);
  b.writeUInt8(h.kind, 5);
  b.writeUInt8(h.codec, 6);
  b.writeUInt32LE(h.rawLength, 8);
  b.writeUInt32LE(h.storedLength, 12);
  return b;
}

/**
 * Decodes and checks a chunk header against the file's total length (`totalLength`, default the
 * buffer's length, so a caller may pass just the 16 header bytes).
 * Throws `REPO_CHUNK_CORRUPT` naming `digest`.
 */
export function decodeChunkHeader(
  file: Buffer,
  digest: string,
  totalLength = file.length,
): ChunkHeader {
  const bad = (why: string): RepoError =>
    new RepoError('REPO_CHUNK_CORRUPT', `chunk ${digest} is corrupt: ${why}`);
  if (file.length < CHUNK_HEADER_BYTES || file.readUInt32LE(0) !== CHUNK_MAGIC) {
    throw bad('bad magic');
  }
  if (file.readUInt8(4) !== 1 || file.readUInt8(7) !== 0) {
    throw bad('unknown chunk version');
  }
  const kind = file.readUInt8(5);
  const codec = file.readUInt8(6);
  if (kind !== ChunkKind.data && kind !== ChunkKind.patch) {
    throw bad(`unknown kind ${kind}`);
  }
  if (codec !== Codec.raw && codec !== Codec.zstd) {
    throw bad(`unknown codec ${codec}`);
  }
  const rawLength = file.readUInt32LE(8);
  const storedLength = file.readUInt32LE(12);
  if (storedLength !== totalLength - CHUNK_HEADER_BYTES || rawLength > MAX_CHUNK_SIZE) {
    throw bad('length mismatch');
  }
  if (codec === Codec.raw && storedLength !== rawLength) {
    throw bad('raw length mismatch');
  }
  return { kind, codec, rawLength, storedLength };
}
