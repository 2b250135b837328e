import path from 'node:path';

import { RepoError } from './errors.js';

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
// Snapshot and lease ids: path-safe, never `.`/`..`, never hidden, bounded length.
const ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
// libvirt disk targets (vda, sdb, hdc, xvda, ...); no dots so `<target>.index` stays unambiguous.
const TARGET_RE = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;
const DIGEST_RE = /^[0-9a-f]{64}$/;

/** Validates a domain UUID (lower-case canonical form). Throws `REPO_INVALID_ID`. */
export function checkDomainUuid(uuid: string): string {
  if (!UUID_RE.test(uuid)) {
    throw new RepoError('REPO_INVALID_ID', `invalid domain uuid ${JSON.stringify(uuid)}`);
  }
  return uuid;
}

/** Validates a snapshot (or lease) id. Throws `REPO_INVALID_ID`. */
export function checkSnapshotId(id: string): string {
  if (!ID_RE.test(id) || id.includes('..')) {
    throw new RepoError('REPO_INVALID_ID', `invalid snapshot id ${JSON.stringify(id)}`);
  }
  return id;
}

/** Validates a disk target name. Throws `REPO_INVALID_ID`. */
export function checkDiskTarget(target: string): string {
  if (!TARGET_RE.test(target)) {
    throw new RepoError('REPO_INVALID_ID', `invalid disk target ${JSON.stringify(target)}`);
  }
  return target;
}

/** Validates a hex SHA-256 digest. Throws `REPO_INVALID_ID`. */
export function checkDigest(hex: string): string {
  if (!DIGEST_RE.test(hex)) {
    throw new RepoError('REPO_INVALID_ID', `invalid digest ${JSON.stringify(hex)}`);
  }
  return hex;
}

/** The file of chunk `digest` under repository `root` (`chunks/<first two hex>/<digest>`). */
export function chunkFile(root: string, digest: string): string {
  return confined(root, 'chunks', checkDigest(digest).slice(0, 2), digest);
}

/**
 * Joins `parts` under `root` and proves the result stays inside it (defence in depth on top of
 * the id checks). Throws `REPO_PATH_ESCAPE`.
 */
export function confined(root: string, ...parts: string[]): string {
  const base = path.resolve(root);
  const p = path.resolve(base, ...parts);
  if (p !== base && !p.startsWith(base + path.sep)) {
    throw new RepoError('REPO_PATH_ESCAPE', `path escapes the repository: ${parts.join('/')}`);
  }
  return p;
}
