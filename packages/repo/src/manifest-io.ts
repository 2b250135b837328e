import type { SnapshotManifest } from '@virtvault/core';

import { RepoError } from './errors.js';
import { checkDiskTarget, checkDomainUuid, checkSnapshotId } from './validate.js';

/**
 * Parses and validates a `manifest.json`. Throws `REPO_MANIFEST_INVALID` (or `REPO_FORMAT_UNSUPPORTED`
 * for a newer manifest version).
 */
export function parseManifest(text: string, where: string): SnapshotManifest {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new RepoError('REPO_MANIFEST_INVALID', `manifest of ${where} is not JSON`, { cause: e });
  }
  const m = v as Partial<SnapshotManifest> | null;
  if (m === null || typeof m !== 'object' || m.format !== 'virtvault-snapshot') {
    throw new RepoError(
      'REPO_MANIFEST_INVALID',
      `manifest of ${where} is not a virtvault snapshot manifest`,
    );
  }
  if (m.version !== 1) {
    throw new RepoError(
      'REPO_FORMAT_UNSUPPORTED',
      `manifest of ${where} has unsupported version ${String(m.version)}`,
    );
  }
  try {
    checkSnapshotId(String(m.id));
    checkDomainUuid(String(m.domain?.uuid));
    if (m.consistency !== undefined && !['filesystem', 'crash'].includes(m.consistency)) {
      throw new Error(`unknown consistency ${String(m.consistency)}`);
    }
    if (!Array.isArray(m.disks)) {
      throw new Error('disks is not a list');
    }
    for (const d of m.disks) {
      checkDiskTarget(d.target);
      if (d.index !== `${d.target}.index` || !/^[0-9a-f]{64}$/.test(d.indexSha256)) {
        throw new Error(`bad index entry for ${d.target}`);
      }
    }
  } catch (e) {
    throw new RepoError('REPO_MANIFEST_INVALID', `manifest of ${where} is invalid`, { cause: e });
  }
  return m as SnapshotManifest;
}
