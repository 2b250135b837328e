/** Repository format constants (see docs/repository-format.md). */

/** `config.json` `format` marker. */
export const REPO_FORMAT = 'virtvault-repository';
/** The only repository format version this code reads and writes. */
export const REPO_VERSION = 1;
/** Default slot/chunk size: 4 MiB. */
export const DEFAULT_CHUNK_SIZE = 4 * 1024 * 1024;
/** Smallest chunk size accepted in `config.json` (tests use small ones). */
export const MIN_CHUNK_SIZE = 4096;
/** Largest chunk size accepted in `config.json`. */
export const MAX_CHUNK_SIZE = 64 * 1024 * 1024;
/**
 * Digest algorithms of chunk names (`config.json` `hash`). New repositories use BLAKE3: on the lab
 * machine it hashes ~7 GB/s per core against SHA-256's ~1.8 GB/s with SHA-NI, and a full backup's
 * workers spent more time hashing than anything else. Repositories made with SHA-256 stay readable
 * and writable, and are what a machine without the BLAKE3 addon makes (see `blake3.ts`).
 */
export const CHUNK_HASHES = ['blake3', 'sha256'] as const;
/** A digest algorithm of chunk names. */
export type ChunkHash = (typeof CHUNK_HASHES)[number];
/** Digest length (both algorithms: 32 bytes). */
export const DIGEST_BYTES = 32;
/** The all-zero digest: a zero or unallocated slot (index) or zero fill (patch range). */
export const ZERO_DIGEST_HEX = '0'.repeat(64);
/** Chunk file magic `VVCK`. */
export const CHUNK_MAGIC = 0x4b435656;
/** Chunk header length in bytes. */
export const CHUNK_HEADER_BYTES = 16;
/** Index file magic `VVIX`. */
export const INDEX_MAGIC = 0x58495656;
/** Index header length in bytes. */
export const INDEX_HEADER_BYTES = 32;
/** Domain-separation prefix hashed before a patch payload, so no data chunk can share a patch's name. */
export const PATCH_DIGEST_PREFIX = 'virtvault-patch1';
/** Patch payload header length. */
export const PATCH_HEADER_BYTES = 40;
/** Bytes per patch range entry. */
export const PATCH_RANGE_BYTES = 48;
/** Most ranges a patch may hold; a writer compacts the slot into a data chunk instead. */
export const PATCH_MAX_RANGES = 64;
/**
 * The largest chunk file a patch can be: its header and a payload of {@link PATCH_MAX_RANGES}
 * ranges stored raw (a compressed payload is kept only when smaller). A larger file is a data chunk.
 */
export const PATCH_MAX_FILE_BYTES =
  CHUNK_HEADER_BYTES + PATCH_HEADER_BYTES + PATCH_MAX_RANGES * PATCH_RANGE_BYTES;

/** Chunk kinds (chunk header byte 5). */
export const ChunkKind = { data: 0, patch: 1 } as const;
/** A chunk kind value. */
export type ChunkKind = (typeof ChunkKind)[keyof typeof ChunkKind];

/** Codecs (chunk header byte 6). */
export const Codec = { raw: 0, zstd: 1 } as const;
/** A codec value. */
export type Codec = (typeof Codec)[keyof typeof Codec];
