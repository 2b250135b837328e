/**
 * Opening repositories and finding snapshots by domain name or UUID, for every command.
 */
import { readdir } from 'node:fs/promises';

import type { SnapshotManifest } from '@virtvault/core';
import type { Repository } from '@virtvault/repo';

import { loadRepo } from './lazy.js';
import { CliError } from './output.js';

/** Opens a repository; with `create`, a missing or empty directory becomes a new repository. */
export async function openRepository(dir: string, create = false): Promise<Repository> {
  const { Repository, RepoError } = await loadRepo();
  const repo = new Repository(dir);
  try {
    await repo.open();
    return repo;
  } catch (e) {
    if (!create || !(e instanceof RepoError) || e.code !== 'REPO_NOT_FOUND') {
      throw e;
    }
  }
  const entries = await readdir(dir).catch(() => [] as string[]);
  if (entries.length > 0) {
    throw new CliError(
      'REPO_NOT_FOUND',
      `${dir} is not empty and holds no virtvault repository; give an empty or new directory`,
      1,
    );
  }
  return Repository.init(dir);
}

/** A committed snapshot with its verify state. */
export interface SnapshotEntry {
  /** The manifest. */
  manifest: SnapshotManifest;
  /** `ok`, `failed`, or `unverified`. */
  verify: 'ok' | 'failed' | 'unverified';
}

/** Committed snapshots, oldest first, of every domain or those matching a name or UUID. */
export async function listSnapshots(repo: Repository, domain?: string): Promise<SnapshotEntry[]> {
  const out: SnapshotEntry[] = [];
  for (const ref of await repo.listSnapshots()) {
    if (!ref.committed) {
      continue;
    }
    const manifest = await repo.readManifest(ref.domain, ref.id);
    if (
      domain !== undefined &&
      manifest.domain.uuid !== domain &&
      manifest.domain.name !== domain
    ) {
      continue;
    }
    const v = await (await loadRepo()).readVerifyResult(repo, ref.domain, ref.id);
    out.push({ manifest, verify: v === null ? 'unverified' : v.status });
  }
  return out.sort((a, b) => a.manifest.endedAt.localeCompare(b.manifest.endedAt));
}

/** The snapshot `id` (or `latest`) of a domain; throws `SNAPSHOT_NOT_FOUND` / `DOMAIN_NOT_FOUND`. */
export async function findSnapshot(
  repo: Repository,
  domain: string,
  id: string,
): Promise<SnapshotManifest> {
  const all = await listSnapshots(repo, domain);
  if (all.length === 0) {
    throw new CliError('DOMAIN_NOT_FOUND', `no snapshots of domain ${domain} in ${repo.root}`, 1);
  }
  const found = id === 'latest' ? all.at(-1) : all.find((s) => s.manifest.id === id);
  if (found === undefined) {
    throw new CliError('SNAPSHOT_NOT_FOUND', `domain ${domain} has no snapshot ${id}`, 1);
  }
  return found.manifest;
}
