import { runPool, type SnapshotManifest } from '@virtvault/core';

import { RepoError } from './errors.js';
import type { Repository } from './repository.js';
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
    checkLineageFields(m);
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

const LEVELS = ['full', 'incremental', 'differential'];

/**
 * The fields the lineage records a snapshot by: a manifest wrong in one of them (an unknown
 * level, a date that does not parse, a checkpoint not of ours) is a damaged snapshot, rather
 * than a record every later reconcile of the domain fails to import.
 */
function checkLineageFields(m: Partial<SnapshotManifest>): void {
  if (!LEVELS.includes(String(m.level))) {
    throw new Error(`unknown level ${String(m.level)}`);
  }
  for (const [name, v] of [
    ['startedAt', m.startedAt],
    ['endedAt', m.endedAt],
  ] as const) {
    if (typeof v !== 'string' || Number.isNaN(Date.parse(v))) {
      throw new Error(`${name} ${String(v)} is not a date`);
    }
  }
  if (typeof m.host !== 'string' || m.host === '' || typeof m.domain?.name !== 'string') {
    throw new Error('no host or domain name');
  }
  const cp = m.checkpoint;
  if (cp !== null && (typeof cp?.name !== 'string' || !cp.name.startsWith('vv-'))) {
    throw new Error(`checkpoint ${String(cp?.name)} is not one of ours`);
  }
  if (m.parent !== null) {
    checkSnapshotId(String(m.parent));
  }
  if (!Array.isArray(m.reasons)) {
    throw new Error('reasons is not a list');
  }
}

/** A committed snapshot whose manifest cannot be read (`REPO_MANIFEST_INVALID`). */
export interface DamagedSnapshot {
  /** Domain UUID (its folder). */
  domain: string;
  /** Snapshot id. */
  id: string;
  /** Why the manifest is unusable. */
  error: RepoError;
}

/** Manifests read at once (a domain may have thousands of snapshots). */
const MANIFEST_READS = 16;

/** `fn` over `items`, at most `limit` at a time; the results in the items' order. */
async function mapLimited<T, R>(
  items: readonly T[],
  limit: number,
  fn: (t: T) => Promise<R>,
): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  await runPool(items.entries(), limit, async ([i, t]) => {
    out[i] = await fn(t);
  });
  return out;
}

/** The committed snapshots of a repository, readable and damaged apart. */
export interface ManifestListing {
  /** Manifests that read and validate, oldest first (by end time). */
  manifests: SnapshotManifest[];
  /** Snapshots whose manifest is truncated, not JSON or not valid. */
  damaged: DamagedSnapshot[];
}

/**
 * Reads the manifests of every committed snapshot (of one domain, or all): one damaged manifest
 * is listed apart instead of failing the listing, so that it hides no other snapshot and a backup
 * planned over it takes it as gone (a full) rather than failing every night. A manifest of a newer
 * format still throws `REPO_FORMAT_UNSUPPORTED`: that repository is not ours to judge.
 */
export async function readManifests(repo: Repository, domain?: string): Promise<ManifestListing> {
  const out: ManifestListing = { manifests: [], damaged: [] };
  const refs = (await repo.listSnapshots(domain)).filter((r) => r.committed);
  // read side by side, for the reason listSnapshots stats side by side; order kept by position
  const read = await mapLimited(refs, MANIFEST_READS, async (ref) => {
    try {
      return { ref, manifest: await repo.readManifest(ref.domain, ref.id) };
    } catch (e) {
      if (e instanceof RepoError && e.code === 'REPO_SNAPSHOT_NOT_FOUND') {
        // removed (prune, forget) since the listing: gone, as it would be a moment later
        return null;
      }
      if (!(e instanceof RepoError) || e.code !== 'REPO_MANIFEST_INVALID') {
        throw e;
      }
      return { ref, error: e };
    }
  });
  for (const r of read) {
    if (r === null) {
      continue;
    }
    if ('manifest' in r) {
      out.manifests.push(r.manifest);
    } else {
      out.damaged.push({ domain: r.ref.domain, id: r.ref.id, error: r.error });
    }
  }
  out.manifests.sort((a, b) => a.endedAt.localeCompare(b.endedAt));
  return out;
}
