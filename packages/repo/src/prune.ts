import { promises as fsp } from 'node:fs';
import path from 'node:path';

import {
  selectRetention,
  type RetentionCandidate,
  type RetentionPolicy,
  type RetentionReason,
  type SnapshotManifest,
} from '@virtvault/core';

import { isErrno, RepoError, throwIfInterrupted } from './errors.js';
import { Lease, readLeases } from './lease.js';
import { readManifests } from './manifest-io.js';
import type { Repository } from './repository.js';

/** Options of {@link prune}. */
export interface PruneOptions {
  /** GFS rules. */
  policy: RetentionPolicy;
  /** IANA time zone for the periods (explicit; e.g. `UTC`). */
  timeZone: string;
  /** Only this domain (default: every domain, each on its own). */
  domain?: string;
  /** Snapshot ids that are always kept. */
  protect?: readonly string[];
  /** Decide and report, delete nothing. */
  dryRun?: boolean;
  /**
   * Stops the prune between two removals (`REPO_INTERRUPTED`): every snapshot is then removed or
   * whole, and a second prune finishes the job.
   */
  signal?: AbortSignal;
}

/** What prune decided and did. */
export interface PruneReport {
  /** Kept `<domain>/<id>` with reasons. */
  kept: { snapshot: string; reasons: RetentionReason[] }[];
  /** Removed (or, in a dry run, to remove) `<domain>/<id>`. */
  removed: string[];
  /** Selected for removal but kept because a running writer starts from it. */
  inUse: string[];
  /** Left alone: their manifest cannot be read (verify names them; remove them by hand). */
  damaged: string[];
}

/**
 * Per domain, the id of its newest full snapshot (what its next differential builds on); "newest"
 * as retention orders snapshots: by time, then by id.
 */
function newestFulls(manifests: readonly SnapshotManifest[]): Map<string, string> {
  const newest = new Map<string, { id: string; ms: number }>();
  for (const m of manifests) {
    if (m.level !== 'full') {
      continue;
    }
    const seen = newest.get(m.domain.uuid);
    const ms = Date.parse(m.startedAt);
    if (seen === undefined || ms > seen.ms || (ms === seen.ms && m.id > seen.id)) {
      newest.set(m.domain.uuid, { id: m.id, ms });
    }
  }
  return new Map([...newest].map(([domain, f]) => [domain, f.id]));
}

/**
 * Applies a GFS retention policy to the committed snapshots of each domain and removes the rest
 * (manifest first, so a crash leaves an aborted snapshot that GC clears). A snapshot that a live
 * writer uses as parent is kept, and so is each domain's newest full (reason `base`). Chunks are freed by the next GC.
 */
export async function prune(repo: Repository, opts: PruneOptions): Promise<PruneReport> {
  const report: PruneReport = { kept: [], removed: [], inUse: [], damaged: [] };
  const now = repo.options.now();
  const parents = new Set(
    (await readLeases(repo))
      .filter((l) => l.kind === 'writer' && l.expiresAt >= now)
      .map((l) => l.parent),
  );
  const protect = new Set(opts.protect ?? []);
  const byDomain = new Map<string, RetentionCandidate[]>();
  const listing = await readManifests(repo, opts.domain);
  const bases = newestFulls(listing.manifests);
  for (const m of listing.manifests) {
    const list = byDomain.get(m.domain.uuid) ?? [];
    const base = bases.get(m.domain.uuid) === m.id;
    list.push({ id: m.id, time: m.startedAt, protected: protect.has(m.id), base });
    byDomain.set(m.domain.uuid, list);
  }
  // a damaged manifest has no time to judge it by: neither kept nor removed, only named
  report.damaged.push(...listing.damaged.map((d) => `${d.domain}/${d.id}`));
  for (const [domain, snapshots] of byDomain) {
    const r = selectRetention({ snapshots, policy: opts.policy, now, timeZone: opts.timeZone });
    report.kept.push(...r.keep.map((k) => ({ snapshot: `${domain}/${k.id}`, reasons: k.reasons })));
    for (const d of r.remove) {
      const key = `${domain}/${d.id}`;
      if (parents.has(key)) {
        report.inUse.push(key);
        continue;
      }
      if (opts.dryRun !== true) {
        const done = `${report.removed.length} snapshots removed`;
        throwIfInterrupted(opts.signal, `prune (${done})`);
        if (!(await removeUnlessUsed(repo, domain, d.id))) {
          report.inUse.push(key);
          continue;
        }
      }
      report.removed.push(key);
    }
  }
  return report;
}

/**
 * Removes one committed snapshot (manifest first), damaged ones included: what `verify` found
 * broken, or what stops GC (an index it cannot read). Its chunks are freed by the next GC.
 * Throws `REPO_SNAPSHOT_NOT_FOUND` when there is no such snapshot, and `REPO_LOCKED` when a
 * running backup builds on it.
 */
export async function removeSnapshot(repo: Repository, domain: string, id: string): Promise<void> {
  await repo.readManifest(domain, id).catch((e: unknown) => {
    // a damaged manifest is a snapshot still, and one to remove
    if (!(e instanceof RepoError) || e.code !== 'REPO_MANIFEST_INVALID') {
      throw e;
    }
  });
  if (!(await removeUnlessUsed(repo, domain, id))) {
    const msg = `a running backup or restore uses ${domain}/${id}; try later`;
    throw new RepoError('REPO_LOCKED', msg);
  }
}

/** True when a live writer or reader lease names `key` as the snapshot it reads. */
async function inUse(repo: Repository, key: string): Promise<boolean> {
  const now = repo.options.now();
  return (await readLeases(repo)).some(
    (l) => l.kind === 'writer' && l.expiresAt >= now && l.parent === key,
  );
}

/**
 * Removes a committed snapshot unless a live lease reads it (a backup's parent, a restore). The
 * leases are read after the manifest is set aside: a reader takes its lease before it reads the
 * manifest, so one that started after a lease listing taken earlier (a prune's, at its start) is
 * seen, and the manifest put back. Meanwhile a lease of the prune's own claims the folder, which
 * GC would otherwise take for an aborted snapshot's. Returns false when the snapshot is kept.
 */
async function removeUnlessUsed(repo: Repository, domain: string, id: string): Promise<boolean> {
  const key = `${domain}/${id}`;
  if (await inUse(repo, key)) {
    return false;
  }
  const claim = await Lease.acquire(repo, { kind: 'writer', snapshot: key });
  try {
    const dir = repo.snapshotDir(domain, id);
    const manifest = path.join(dir, 'manifest.json');
    const aside = path.join(dir, '.manifest.removing');
    const setAside = await fsp.rename(manifest, aside).then(
      () => true,
      (e: unknown) => {
        // removed meanwhile (a second prune): what is left of the folder goes all the same
        if (!isErrno(e, 'ENOENT')) {
          throw e;
        }
        return false;
      },
    );
    if (setAside && (await inUse(repo, key))) {
      await fsp.rename(aside, manifest);
      return false;
    }
    await repo.removeSnapshotDir(domain, id);
    return true;
  } finally {
    await claim.close();
  }
}
