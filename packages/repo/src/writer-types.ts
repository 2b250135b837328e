/** The shapes a `SnapshotWriter` is given: its options, a disk to write, commit fields. */
import type { SnapshotManifest } from '@virtvault/core';

import type { PatchLimits } from './patch-writer.js';

/** Options of a `SnapshotWriter`. */
export interface WriterOptions {
  /** The domain being backed up. */
  domain: { uuid: string; name: string };
  /** Snapshot id; default `<UTC time>-<random>` from the repository's clock and id source. */
  snapshotId?: string;
  /** Parent snapshot id (same domain) whose indexes disks may start from; null/absent for a full. */
  parent?: string | null;
  /** Host name recorded in the lease (default os.hostname()). */
  host?: string;
  /** Patch compaction limits. */
  patchLimits?: Partial<PatchLimits>;
}

/** A disk to write. */
export interface DiskSpec {
  /** Disk target, e.g. `vda`. */
  target: string;
  /** Virtual size in bytes. */
  virtualSize: number;
  /** Source path at backup time (manifest). */
  source: string;
  /** Image format at backup time (manifest). */
  format: string;
  /** Start from the parent's index of the same target (default true when there is a parent). */
  fromParent?: boolean;
}

/** Manifest fields the caller supplies at commit; the writer fills id, domain, parent and disks. */
export type CommitInfo = Pick<
  SnapshotManifest,
  | 'host'
  | 'level'
  | 'reasons'
  | 'checkpoint'
  | 'domainXml'
  | 'startedAt'
  | 'endedAt'
  | 'toolVersion'
  | 'consistency'
>;

/** Options of `SnapshotWriter.putPatch`. */
export interface PutPatchOptions {
  /** Bytes read from the source for the patch; default the ranges' total length. */
  bytesRead?: number;
  /** The rest of the slot is zeros, whatever the slot held (a sparse slot). */
  overZero?: boolean;
  /** Reads the slot's current bytes (its whole length) from the source, for a compaction. */
  whole?: () => Promise<Uint8Array>;
}
