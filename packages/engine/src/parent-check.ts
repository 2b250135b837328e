/**
 * A parent snapshot the repository cannot give (a damaged manifest or index) is no reason for a
 * failed night: the executor reports it as `PARENT_UNREADABLE` before any data is written and core
 * retries the run as a full (`PARENT_SNAPSHOT_UNUSABLE`); doctor checks for it ahead.
 */
import type { BackupRequest } from '@virtvault/core';
import { refuseQuarantined, type Repository, unresolvedQuarantine } from '@virtvault/repo';

import { EngineError } from './errors.js';

/** Repository codes saying the parent snapshot (its manifest or an index) cannot be built on. */
const PARENT_DAMAGE = new Set([
  'REPO_INDEX_CORRUPT',
  'REPO_MANIFEST_INVALID',
  'REPO_SNAPSHOT_NOT_FOUND',
  'REPO_PARENT_MISSING',
  // a chunk verify set aside, or one gone, found while checking for those
  'REPO_CHUNK_QUARANTINED',
  'REPO_CHUNK_MISSING',
]);

/**
 * `PARENT_UNREADABLE` for a parent the repository cannot give (core retries the run as a full)
 * instead of failing every night on it; anything else as it is.
 */
export function parentError(req: Pick<BackupRequest, 'parentSnapshot'>, e: unknown): unknown {
  const code = (e as { code?: unknown } | null)?.code;
  if (req.parentSnapshot === null || typeof code !== 'string' || !PARENT_DAMAGE.has(code)) {
    return e;
  }
  const why = e instanceof Error ? e.message : String(e);
  return new EngineError(
    'PARENT_UNREADABLE',
    `the parent snapshot ${req.parentSnapshot} cannot be read: ${why}`,
    { cause: e },
  );
}

/**
 * What keeps the snapshot `id` from being built on (its manifest or a disk index damaged or
 * gone, or a chunk it reaches set aside by verify), in words; null when every index reads and
 * matches its digest and reaches no such chunk: what the writer checks when a backup opens it.
 */
export async function parentProblem(
  repo: Repository,
  domainUuid: string,
  id: string,
): Promise<string | null> {
  try {
    const m = await repo.readManifest(domainUuid, id);
    const bad = await unresolvedQuarantine(repo.root);
    for (const d of m.disks) {
      const index = await repo.readIndex(domainUuid, id, d.target, m);
      refuseQuarantined(repo, index, bad, { snapshot: id, target: d.target });
    }
    return null;
  } catch (e) {
    const err = parentError({ parentSnapshot: id }, e);
    if (err === e) {
      throw e;
    }
    return err instanceof Error ? err.message : String(err);
  }
}
