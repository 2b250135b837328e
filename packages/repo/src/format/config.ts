import { RepoError } from '../errors.js';
import {
  CHUNK_HASHES,
  type ChunkHash,
  MAX_CHUNK_SIZE,
  MIN_CHUNK_SIZE,
  REPO_FORMAT,
  REPO_VERSION,
} from './constants.js';

/** `config.json` at the repository root. */
export interface RepoConfig {
  /** Always `virtvault-repository`. */
  format: typeof REPO_FORMAT;
  /** Format version (1). */
  version: typeof REPO_VERSION;
  /** Slot and maximum chunk size in bytes (a power of two). */
  chunkSize: number;
  /** Digest algorithm of chunk names: `blake3` (new repositories) or `sha256`. */
  hash: ChunkHash;
  /** Always `zstd` (chunks that do not shrink are stored raw; the codec is per chunk). */
  compression: 'zstd';
  /** Repository id. */
  id: string;
  /** ISO 8601 creation time. */
  createdAt: string;
}

/**
 * Parses `config.json`, refusing other formats and newer versions with `REPO_FORMAT_UNSUPPORTED`.
 */
export function parseConfig(text: string): RepoConfig {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new RepoError('REPO_FORMAT_UNSUPPORTED', 'config.json is not JSON', { cause: e });
  }
  const o = (typeof v === 'object' && v !== null ? v : {}) as Record<string, unknown>;
  if (o['format'] !== REPO_FORMAT) {
    throw new RepoError(
      'REPO_FORMAT_UNSUPPORTED',
      `not a virtvault repository (format ${JSON.stringify(o['format'])})`,
    );
  }
  if (o['version'] !== REPO_VERSION) {
    throw new RepoError(
      'REPO_FORMAT_UNSUPPORTED',
      `repository format version ${JSON.stringify(o['version'])} is not supported (this build reads version ${REPO_VERSION})`,
    );
  }
  const chunkSize = o['chunkSize'];
  if (typeof chunkSize !== 'number' || !isValidChunkSize(chunkSize)) {
    throw new RepoError('REPO_FORMAT_UNSUPPORTED', `unsupported chunkSize ${String(chunkSize)}`);
  }
  const hash = CHUNK_HASHES.find((h) => h === o['hash']);
  if (hash === undefined || o['compression'] !== 'zstd') {
    throw new RepoError(
      'REPO_FORMAT_UNSUPPORTED',
      `unsupported hash ${JSON.stringify(o['hash'])} or compression ${JSON.stringify(o['compression'])}`,
    );
  }
  return {
    format: REPO_FORMAT,
    version: REPO_VERSION,
    chunkSize,
    hash,
    compression: 'zstd',
    id: String(o['id']),
    createdAt: String(o['createdAt']),
  };
}

/** True for a power of two within the supported bounds. */
export function isValidChunkSize(n: number): boolean {
  return Number.isInteger(n) && n >= MIN_CHUNK_SIZE && n <= MAX_CHUNK_SIZE && (n & (n - 1)) === 0;
}
