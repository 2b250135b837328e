/**
 * What a `SnapshotWriter` keeps per disk and the files its commit writes before the manifest: each
 * disk's index (temp, fsync, rename) and the manifest's entry for it.
 */
import path from 'node:path';

import type { ManifestDisk } from '@virtvault/core';

import type { DiskIndex } from './format/index-file.js';
import { sha256hex } from './hash.js';
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

/** `<yyyymmddThhmmssZ>-<random>`: sortable by time, unique by the random part. */
export function defaultSnapshotId(repo: Repository): string {
  const t = new Date(repo.options.now())
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  return `${t}-${repo.options.randomId()}`;
}
