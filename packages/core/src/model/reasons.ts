/**
 * The reason catalogue: every code the chain planner and `runBackup` attach to a run, with a
 * plain-words explanation (printed by `virtvault doctor`) and its effect on the level.
 *
 * Codes are stable: they are stored on runs and snapshots, printed in `--json` output and counted
 * per host for chain-break rates. Add codes; never rename or reuse one.
 */

/** What a reason does to the plan. */
export type ReasonEffect =
  /** The backup is taken as a full. */
  | 'full'
  /** The incremental goes ahead after a repair step (e.g. a redefine). */
  | 'repair'
  /** Recorded for the report; the level is not affected. */
  | 'info';

/** One catalogue entry. */
export interface ReasonInfo {
  /** Effect on the plan. */
  readonly effect: ReasonEffect;
  /** One or two sentences for operators. */
  readonly explanation: string;
}

/** The catalogue, keyed by code. */
export const REASONS = {
  NO_PARENT: {
    effect: 'full',
    explanation:
      'There is no earlier snapshot of this domain in this repository to build on (for a differential: no full), so a full backup is taken.',
  },
  POLICY_FULL: {
    effect: 'full',
    explanation:
      'The policy asks for a full now: a full was requested, the chain reached its length cap, the last full is too old, or today is a full-backup weekday.',
  },
  PARENT_SNAPSHOT_UNUSABLE: {
    effect: 'full',
    explanation:
      'The snapshot an incremental would build on is missing from the repository, incomplete, or failed verify, so a full is taken instead of trusting it.',
  },
  PARENT_CHECKPOINT_UNUSABLE: {
    effect: 'full',
    explanation:
      'The parent snapshot has no usable checkpoint: none was created with it (offline or raw disks), or the lineage marks it broken or deleted.',
  },
  DISKS_CHANGED: {
    effect: 'full',
    explanation:
      'The set of disks changed since the parent snapshot (a disk was added, removed, replaced by another source, or resized), so every disk is read in full.',
  },
  BITMAPS_UNSUPPORTED: {
    effect: 'full',
    explanation:
      'No disk of the domain can hold persistent dirty bitmaps (raw or block devices, qcow2 v2 images with compat=0.10), so only full backups are possible and no checkpoint is created.',
  },
  DISKS_WITHOUT_BITMAPS: {
    effect: 'info',
    explanation:
      'Some disks cannot hold persistent dirty bitmaps (raw or block devices, qcow2 v2 images with compat=0.10): they are read in full at every backup, while the other disks are backed up incrementally.',
  },
  BITMAP_MISSING: {
    effect: 'full',
    explanation:
      'The dirty bitmap of the parent checkpoint is missing on a disk (QEMU died before saving it, the image was converted, reverted or replaced, or the bitmaps did not move with a migration).',
  },
  BITMAP_INCONSISTENT: {
    effect: 'full',
    explanation:
      'The parent checkpoint bitmap is inconsistent (flag in-use: QEMU did not close the image cleanly) or not recording, so it cannot say what changed; it is removed and a full is taken.',
  },
  BITMAP_BUSY: {
    effect: 'full',
    explanation:
      'The parent checkpoint bitmap is in use by another block job (often a backup job left behind by a crashed run), so it is neither used nor removed this time.',
  },
  CHECKPOINT_REDEFINED: {
    effect: 'repair',
    explanation:
      'libvirt had lost the checkpoint metadata (domain re-created, transient, migrated or libvirt state lost) while the bitmaps were fine: the parent checkpoint was redefined from the lineage.',
  },
  REDEFINE_FAILED: {
    effect: 'full',
    explanation:
      'Redefining the parent checkpoint from the lineage was refused by libvirt (its validation found the bitmap broken), so a full is taken.',
  },
  INCREMENTAL_FAILED: {
    effect: 'full',
    explanation:
      'libvirt rejected the incremental backup at start (for example a missing or broken bitmap) and a fresh look at the domain found no cause to act on; it was retried once as a full in the same run.',
  },
  DOMAIN_MIGRATED: {
    effect: 'info',
    explanation:
      'The domain runs on another host than when its last snapshot was taken (live or cold migration).',
  },
  DOMAIN_TRANSIENT: {
    effect: 'info',
    explanation:
      'The domain is transient (e.g. OpenNebula, Pacemaker): libvirt forgets its checkpoints whenever it is re-created, so they are redefined from the lineage.',
  },
  DOMAIN_SHUT_OFF: {
    effect: 'info',
    explanation:
      'The domain is shut off: bitmaps were read from the images (qemu-img info), checkpoint metadata is redefined without validation, and the checkpoint is added offline.',
  },
  FOREIGN_CHECKPOINTS_IGNORED: {
    effect: 'info',
    explanation:
      'Checkpoints or bitmaps of other tools (names not starting with vv-), or of another virtvault lineage (another state folder or a fleet), are present; they are left alone and do not affect the chain.',
  },
  ORPHAN_CHECKPOINTS: {
    effect: 'info',
    explanation:
      'Checkpoints or bitmaps of ours that no committed snapshot uses (left by a failed or interrupted backup) are removed.',
  },
  SNAPSHOT_RECONCILED: {
    effect: 'info',
    explanation:
      'The repository held snapshots the lineage did not know (a crash between repository commit and lineage commit), lost some, or holds again some it had lost (a repository that was not mounted); the lineage was repaired from the manifests first.',
  },
} as const satisfies Record<string, ReasonInfo>;

/** A stable reason code. */
export type ReasonCode = keyof typeof REASONS;

/** Every reason code, in catalogue order. */
export const REASON_CODES = Object.keys(REASONS) as ReasonCode[];

/** True when `code` is a reason of the catalogue (e.g. when reading stored runs back). */
export function isReasonCode(code: string): code is ReasonCode {
  return Object.prototype.hasOwnProperty.call(REASONS, code);
}

/** The plain-words explanation of a reason code. */
export function explainReason(code: ReasonCode): string {
  return REASONS[code].explanation;
}
