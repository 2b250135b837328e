/**
 * The chain planner's output (DESIGN.md section 5).
 */
import type { BackupLevel } from './manifest.js';
import type { ReasonCode } from './reasons.js';

/** Redefine one checkpoint from the lineage's XML before the backup (only ever the parent). */
export interface RedefineAction {
  /** Checkpoint name. */
  checkpoint: string;
  /** Checkpoint XML from the lineage. */
  xml: string;
  /** Use REDEFINE_VALIDATE (needs a running QEMU; false for a shut-off domain). */
  validate: boolean;
}

/** How bitmaps are removed: QMP on a running QEMU (the image is locked), qemu-img on a stopped one. */
export type BitmapRemoval = 'qmp' | 'qemu-img';

/** Why one of our checkpoints is cleaned up. */
export type CleanupWhy =
  /** Its bitmap is broken, missing, or the lineage marks it broken. */
  | 'broken'
  /** Healthy but no future backup of its repository can build on it. */
  | 'superseded'
  /** No snapshot in the lineage uses it (left by a failed or interrupted run). */
  | 'orphan';

/**
 * Clean-up of one checkpoint of ours. Executed in list order (newest first); within an item the
 * metadata goes first (metadata-only delete), then each bitmap. Failures never fail the run.
 */
export interface CleanupItem {
  /** Checkpoint name (`vv-…`). */
  checkpoint: string;
  /** Why. */
  why: CleanupWhy;
  /** The breaker that made it unusable, when broken. */
  reason: ReasonCode | null;
  /** Delete libvirt's metadata of it (present on this host). */
  deleteMetadata: boolean;
  /** Bitmaps to remove after the metadata, per disk. */
  bitmaps: { disk: string; bitmap: string }[];
  /** Removal method for the bitmaps. */
  via: BitmapRemoval;
}

/** The checkpoint this backup creates. */
export interface NewCheckpointPlan {
  /** Disks (targets) that get a bitmap. */
  disks: string[];
  /** `live`: with the backup job; `offline`: qemu-img bitmap --add + REDEFINE (domain shut off). */
  mode: 'live' | 'offline';
  /** The lineage's owner tag its name carries (`vv-<owner>-<ulid>`); absent: `vv-<ulid>`. */
  owner?: string;
}

/** One human-readable finding, for logs and `doctor`. */
export interface PlanDetail {
  /** Reason the finding supports. */
  code: ReasonCode;
  /** What was found, in plain words. */
  message: string;
}

/** The plan for one backup run. */
export interface BackupPlan {
  /** Level to take. */
  level: BackupLevel;
  /** Snapshot to copy unchanged slots from; null for a full. */
  parentSnapshot: string | null;
  /** Checkpoint whose bitmaps give the changed blocks; null for a full. */
  incrementalFrom: string | null;
  /** Checkpoints to redefine first: empty, or just the parent's. */
  redefine: RedefineAction[];
  /** Clean-up of our broken, orphaned or superseded checkpoints, newest first. */
  cleanup: CleanupItem[];
  /** Checkpoints of ours the lineage holds as live but found broken: record them as broken. */
  markBroken: { checkpoint: string; reason: ReasonCode }[];
  /** Checkpoint to create, or null (some disk cannot hold bitmaps). */
  newCheckpoint: NewCheckpointPlan | null;
  /** Reason codes, deduplicated, in the order found. */
  reasons: ReasonCode[];
  /** Findings behind the reasons. */
  details: PlanDetail[];
}
