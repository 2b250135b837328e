/**
 * The lineage of one domain as the chain planner sees it: the snapshots of one repository and the
 * domain's checkpoints, as recorded in the lineage database (DESIGN.md section 4). The database is
 * the truth about chains; libvirt's checkpoint metadata is a cache rebuilt from it.
 */
import type { BackupLevel } from './manifest.js';

/** Commit state of a snapshot as far as the lineage knows. */
export type SnapshotStatus =
  /** The repository committed it (its manifest exists). */
  | 'committed'
  /** Recorded but never completed in the repository. */
  | 'incomplete'
  /** The lineage has it, the repository no longer does (found by reconcile). */
  | 'missing'
  /** Removed on purpose (prune). */
  | 'deleted';

/** Result of the last verify of a snapshot. */
export type VerifyState = 'unverified' | 'ok' | 'failed';

/** Lifecycle of one of our checkpoints. */
export type CheckpointState = 'live' | 'broken' | 'deleted';

/** A disk as recorded with a snapshot. Sizes are bytes. */
export interface LineageDisk {
  /** libvirt target, e.g. `vda`. */
  target: string;
  /** Source path (or network name). */
  source: string;
  /** Image format, e.g. `qcow2`. */
  format: string;
  /** Virtual size in bytes. */
  virtualSize: number;
}

/** One snapshot of the domain in the planned repository. */
export interface LineageSnapshot {
  /** Snapshot id. */
  id: string;
  /** Level it was taken at. */
  level: BackupLevel;
  /** Host it was taken on. */
  host: string;
  /** Checkpoint created with it, or null when none was. */
  checkpoint: string | null;
  /** Parent snapshot id (incrementals and differentials), null for a full. */
  parent: string | null;
  /** Commit state. */
  status: SnapshotStatus;
  /** Last verify result. */
  verify: VerifyState;
  /** Disks backed up. */
  disks: LineageDisk[];
  /** Start time, epoch ms. */
  startedAt: number;
  /** End time, epoch ms. */
  endedAt: number;
}

/** Which bitmap one disk of a checkpoint uses. */
export interface CheckpointDisk {
  /** libvirt target, e.g. `vda`. */
  target: string;
  /** qcow2 bitmap name (libvirt uses the checkpoint name). */
  bitmap: string;
}

/** One of our checkpoints (`vv-<owner>-<ulid>` or `vv-<ulid>`), with what is needed to redefine it. */
export interface LineageCheckpoint {
  /** Checkpoint name, `vv-<owner>-<ulid>` (or `vv-<ulid>`, untagged). */
  name: string;
  /** Repository whose chain created it. */
  repository: string;
  /** Host it was created on. */
  host: string;
  /** Creation time, epoch ms. */
  createdAt: number;
  /** Checkpoint XML for `checkpointCreateXML(REDEFINE)`. */
  xml: string;
  /** Per-disk bitmaps. */
  disks: CheckpointDisk[];
  /** State. */
  state: CheckpointState;
  /** Why it is broken or deleted (a reason code or free text), null while live. */
  stateReason: string | null;
}

/**
 * The checkpoint of a run whose outcome never reached the lineage: the run died, or its snapshot
 * was committed to the repository and recording it in the lineage failed. That repository's next
 * run learns which from its manifests; until then no other repository's run may remove it.
 */
export interface UnconfirmedCheckpoint {
  /** Checkpoint name. */
  name: string;
  /** Repository of the run that created it. */
  repository: string;
  /** Its run is still running (absent: not, or not known): its commit may yet come. */
  running?: boolean;
}

/** The lineage of one domain in one repository. */
export interface DomainLineage {
  /** The repository being planned for. */
  repository: string;
  /** The domain. */
  domain: { uuid: string; name: string; currentHost: string | null };
  /** Snapshots in `repository`, oldest first (by start time). */
  snapshots: LineageSnapshot[];
  /** All checkpoints of the domain (every repository), oldest first. */
  checkpoints: LineageCheckpoint[];
  /** Checkpoints of the domain's runs whose outcome is unknown (absent: none). */
  unconfirmed?: UnconfirmedCheckpoint[];
  /**
   * This lineage's owner tag (8 hex digits): its new checkpoints are named `vv-<owner>-<ulid>`,
   * and checkpoints tagged by another lineage are left alone. Absent for a store without one:
   * then every `vv-` checkpoint counts as its own.
   */
  owner?: string;
}

/** An empty lineage for a domain never backed up. */
export function emptyLineage(
  repository: string,
  domain: { uuid: string; name: string },
): DomainLineage {
  return { repository, domain: { ...domain, currentHost: null }, snapshots: [], checkpoints: [] };
}

/**
 * The lineage with the verify results recorded in the repository (`verify.json` of each snapshot
 * folder, by snapshot id) in place of the database's: `virtvault verify` writes its results there,
 * beside the snapshots it checked, and a snapshot that failed must never be a parent.
 */
export function withVerifyResults(
  lineage: DomainLineage,
  results: ReadonlyMap<string, VerifyState>,
): DomainLineage {
  if (results.size === 0) {
    return lineage;
  }
  const snapshots = lineage.snapshots.map((s) => {
    const v = results.get(s.id);
    return v === undefined || v === s.verify ? s : { ...s, verify: v };
  });
  return { ...lineage, snapshots };
}
