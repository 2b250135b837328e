/**
 * What a `SnapshotWriter` keeps per disk and the files its commit writes: each disk's index (temp,
 * fsync, rename) and the manifest's entry for it, then the manifest last.
 */
import path from 'node:path';

import type { ManifestDisk, SnapshotManifest } from '@virtvault/core';

import { RepoError } from './errors.js';
import type { DiskIndex } from './format/index-file.js';
import { fsyncDir } from './fs-util.js';
import { sha256hex } from './hash.js';
import type { Lease } from './lease.js';
import type { Repository } from './repository.js';
import type { DiskSpec } from './writer-types.js';

/** A disk being written. */
export interface DiskState {
  /** The disk as the caller started it. */
  spec: DiskSpec;
  /** Its slots' entries so far. */
  index: DiskIndex;
  /** Slots already put (each may be put once). */
  touched: Set<number>;
  /** Bytes read from the source. */
  bytesRead: number;
  /** Bytes of chunks this snapshot added to the repository. */
  bytesNew: number;
  /** True when the index started as a copy of the parent's. */
  inherited: boolean;
}

/**
 * Writes each disk's index into snapshot folder `dir` (temp, fsync, rename) and returns the
 * manifest's entries for them, in the disks' order.
 */
export async function writeIndexes(
  repo: Repository,
  dir: string,
  disks: ReadonlyMap<string, DiskState>,
): Promise<ManifestDisk[]> {
  const out: ManifestDisk[] = [];
  for (const [target, d] of disks) {
    const file = d.index.encode();
    await repo.writeAtomic(path.join(dir, `${target}.index`), file);
    out.push({
      target,
      source: d.spec.source,
      format: d.spec.format,
      virtualSize: d.spec.virtualSize,
      index: `${target}.index`,
      indexSha256: sha256hex(file),
      bytesRead: d.bytesRead,
      bytesNew: d.bytesNew,
    });
  }
  return out;
}

/**
 * Writes a snapshot's files in commit order: the indexes, the folder's own entry (and its
 * domain's) made durable, the writer's lease confirmed, then the manifest (temp, fsync, rename),
 * which commits the snapshot. Returns the manifest: `head` with the disks' entries.
 */
export async function writeSnapshot(
  repo: Repository,
  dir: string,
  disks: ReadonlyMap<string, DiskState>,
  lease: Lease | null,
  head: Omit<SnapshotManifest, 'disks'>,
): Promise<SnapshotManifest> {
  const entries = await writeIndexes(repo, dir, disks);
  // the folder's own entry (and its domain's, for a first snapshot) made durable before the
  // manifest that commits it: mkdir alone is not
  await fsyncDir(path.dirname(dir));
  await fsyncDir(path.dirname(path.dirname(dir)));
  if (lease === null) {
    throw new RepoError('REPO_LEASE_LOST', `writer lease of ${head.id} expired before commit`);
  }
  await lease.confirm();
  const manifest: SnapshotManifest = { ...head, disks: entries };
  await repo.writeAtomic(path.join(dir, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
  return manifest;
}

/** The manifest of parent snapshot `parent`; `REPO_PARENT_MISSING` when missing or unreadable. */
export async function requireParent(
  repo: Repository,
  domain: string,
  parent: string,
): Promise<SnapshotManifest> {
  try {
    return await repo.readManifest(domain, parent);
  } catch (e) {
    throw new RepoError(
      'REPO_PARENT_MISSING',
      `parent snapshot ${parent} is missing or unreadable`,
      {
        cause: e,
      },
    );
  }
}

/** `<yyyymmddThhmmssZ>-<random>`: sortable by time, unique by the random part. */
export function defaultSnapshotId(repo: Repository): string {
  const t = new Date(repo.options.now())
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  return `${t}-${repo.options.randomId()}`;
}
