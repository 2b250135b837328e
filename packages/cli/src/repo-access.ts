/**
 * Opening repositories and finding snapshots by domain name or UUID, for every command.
 */
import { hasErrorCode, type SnapshotManifest } from '@virtvault/core';
import type { DamagedSnapshot, Repository } from '@virtvault/repo';

import { loadRepo } from './lazy.js';
import { CliError } from './output.js';

/** Opens a repository; with `create`, a missing or empty directory becomes a new repository. */
export async function openRepository(dir: string, create = false): Promise<Repository> {
  const { openOrInit, Repository } = await loadRepo();
  if (create) {
    return openOrInit(dir);
  }
  const repo = new Repository(dir);
  await repo.open();
  return repo;
}

/** A committed snapshot with its verify state. */
export interface SnapshotEntry {
  /** The manifest. */
  manifest: SnapshotManifest;
  /** `ok`, `failed`, or `unverified`. */
  verify: 'ok' | 'failed' | 'unverified';
}

/** The snapshots a listing found: readable ones, and those whose manifest is damaged. */
export interface SnapshotList {
  /** Readable snapshots, oldest first. */
  entries: SnapshotEntry[];
  /** Snapshots whose manifest cannot be read (their domain is known by UUID only). */
  damaged: DamagedSnapshot[];
}

/**
 * Committed snapshots, oldest first, of every domain or of the one a UUID or name gives. Throws
 * `DOMAIN_AMBIGUOUS` when a name is carried by snapshots of more than one UUID: libvirt names are
 * unique per host only, and hosts share repositories.
 */
export async function listSnapshots(repo: Repository, domain?: string): Promise<SnapshotList> {
  const { readManifests, readVerifyResult } = await loadRepo();
  const all = await readManifests(repo);
  const byUuid = all.manifests.some((m) => m.domain.uuid === domain);
  const matches = (m: SnapshotManifest): boolean =>
    domain === undefined || (byUuid ? m.domain.uuid === domain : m.domain.name === domain);
  const found = all.manifests.filter(matches);
  if (domain !== undefined && !byUuid) {
    refuseAmbiguous(repo, domain, found);
  }
  const entries: SnapshotEntry[] = [];
  for (const manifest of found) {
    // a damaged verify.json is a result nobody can read: unverified, as the planner takes it
    const v = await readVerifyResult(repo, manifest.domain.uuid, manifest.id).catch(
      (e: unknown) => {
        if (hasErrorCode(e, 'REPO_MANIFEST_INVALID')) {
          return null;
        }
        throw e;
      },
    );
    const known = v?.status === 'ok' || v?.status === 'failed';
    entries.push({ manifest, verify: known ? v.status : 'unverified' });
  }
  // a damaged manifest names no domain: it matches by its folder's UUID, or by a name that
  // readable snapshots of that UUID carry
  const uuids = new Set([
    ...(domain !== undefined ? [domain] : []),
    ...entries.map((e) => e.manifest.domain.uuid),
  ]);
  const damaged = all.damaged.filter((d) => domain === undefined || uuids.has(d.domain));
  return { entries, damaged };
}

/** Throws `DOMAIN_AMBIGUOUS` when the snapshots of `name` belong to more than one domain UUID. */
function refuseAmbiguous(repo: Repository, name: string, found: SnapshotManifest[]): void {
  const newest = new Map<string, SnapshotManifest>();
  for (const m of found) {
    newest.set(m.domain.uuid, m); // oldest first: the last one kept is the newest
  }
  if (newest.size < 2) {
    return;
  }
  const which = [...newest.values()]
    .map((m) => `${m.domain.uuid} (host ${m.host}, newest snapshot ${m.id} of ${m.endedAt})`)
    .join('; ');
  const msg =
    `${newest.size} domains named ${name} have snapshots in ${repo.root}: ${which}; ` +
    'give --domain the UUID of the one you mean';
  throw new CliError('DOMAIN_AMBIGUOUS', msg);
}

/**
 * The snapshot `id` (or `latest`: the newest readable one; `onSkipped` hears of newer damaged
 * ones) of a domain. Throws `SNAPSHOT_NOT_FOUND` / `DOMAIN_NOT_FOUND`, or the damaged manifest's
 * `REPO_MANIFEST_INVALID` when that is the snapshot asked for.
 */
export async function findSnapshot(
  repo: Repository,
  domain: string,
  id: string,
  onSkipped?: (d: DamagedSnapshot) => void,
): Promise<SnapshotManifest> {
  const { entries, damaged } = await listSnapshots(repo, domain);
  const asked = damaged.find((d) => d.id === id);
  if (asked !== undefined) {
    throw asked.error;
  }
  const found = id === 'latest' ? entries.at(-1) : entries.find((s) => s.manifest.id === id);
  if (found === undefined && id === 'latest' && damaged.length > 0) {
    throw (damaged.at(-1) as DamagedSnapshot).error;
  }
  if (entries.length === 0) {
    throw new CliError('DOMAIN_NOT_FOUND', `no snapshots of domain ${domain} in ${repo.root}`, 1);
  }
  if (found === undefined) {
    throw new CliError('SNAPSHOT_NOT_FOUND', `domain ${domain} has no snapshot ${id}`, 1);
  }
  if (id === 'latest') {
    // snapshot ids are ULIDs: a larger one is newer
    damaged.filter((d) => d.id > found.manifest.id).forEach((d) => onSkipped?.(d));
  }
  return found.manifest;
}
