/**
 * BLAKE3 through `@napi-rs/blake-hash`, a prebuilt native addon installed from npm as an optional
 * dependency per platform. Where it does not load (a platform without a prebuilt binary, or an
 * install that omitted optional dependencies), new repositories are made with SHA-256 and a BLAKE3
 * repository is refused with a clear error instead of every command failing at import.
 */
import { createRequire } from 'node:module';

import { RepoError } from '../errors.js';
import type { ChunkHash } from './constants.js';

/** An incremental hasher: the addon's `Blake3Hasher` (node's SHA-256 `Hash` fits it too). */
export interface Blake3 {
  /** Feeds bytes (a string is hashed as UTF-8). */
  update(input: string | Uint8Array): Blake3;
  /** The 32-byte digest. */
  digest(format: 'hex'): string;
}

/** A BLAKE3 hasher constructor, or null where the addon does not load. */
export type Blake3Ctor = (new () => Blake3) | null;

/** Loads the addon's hasher through `load` (a `require`); null when that throws. */
export function loadBlake3(load: (id: string) => unknown): Blake3Ctor {
  try {
    const m = load('@napi-rs/blake-hash') as { Blake3Hasher?: new () => Blake3 };
    return m.Blake3Hasher ?? null;
  } catch {
    return null;
  }
}

let loaded: { ctor: Blake3Ctor } | null = null;

/**
 * This process's BLAKE3 hasher, or null; loaded on first use (~4 ms), so that a command pays for it
 * only when it hashes or creates a repository.
 */
export function blake3Hasher(): Blake3Ctor {
  loaded ??= { ctor: loadBlake3(createRequire(import.meta.url)) };
  return loaded.ctor;
}

/** The digest new repositories use: BLAKE3 where it loads, else SHA-256. */
export function defaultChunkHash(blake3: Blake3Ctor = blake3Hasher()): ChunkHash {
  return blake3 !== null ? 'blake3' : 'sha256';
}

/** The BLAKE3 hasher; throws `REPO_FORMAT_UNSUPPORTED` where the addon does not load. */
export function usableBlake3(): new () => Blake3 {
  const ctor = blake3Hasher();
  if (ctor === null) {
    throw new RepoError(
      'REPO_FORMAT_UNSUPPORTED',
      'this repository names its chunks by BLAKE3, and the BLAKE3 addon (@napi-rs/blake-hash) ' +
        'does not load on this machine: reinstall with optional dependencies ' +
        '(npm ci --include=optional)',
    );
  }
  return ctor;
}
