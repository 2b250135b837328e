/**
 * The chain breakers of peers.md section 3, each mapped to the reason codes that detect it and the
 * planner's decision. `doctor` prints this table; the unit tests check that every breaker has a
 * test case and only catalogue codes.
 */
import type { ReasonCode } from '../model/reasons.js';

/** One breaker. */
export interface ChainBreaker {
  /** peers.md id, e.g. `B1`. */
  readonly id: string;
  /** What happens. */
  readonly title: string;
  /** Codes that record it. */
  readonly reasons: readonly ReasonCode[];
  /** What the planner does. */
  readonly decision: string;
}

/** Every breaker, B1 … B11. */
export const CHAIN_BREAKERS: readonly ChainBreaker[] = [
  {
    id: 'B1',
    title: 'Unclean QEMU exit (host crash, kill -9, OOM, forced destroy)',
    reasons: ['BITMAP_INCONSISTENT', 'BITMAP_MISSING', 'INCREMENTAL_FAILED'],
    decision:
      'full; the broken checkpoint is cleaned up (metadata, then bitmaps) and marked broken',
  },
  {
    id: 'B2',
    title: 'Domain re-created or transient: checkpoint metadata lost, bitmaps remain',
    reasons: ['CHECKPOINT_REDEFINED', 'DOMAIN_TRANSIENT', 'REDEFINE_FAILED'],
    decision:
      'incremental after redefining only the parent from the lineage XML; full if that fails',
  },
  {
    id: 'B3',
    title: 'Live or cold migration: metadata does not move, bitmaps may or may not',
    reasons: ['DOMAIN_MIGRATED', 'CHECKPOINT_REDEFINED', 'BITMAP_MISSING'],
    decision:
      'incremental after redefining the parent on the new host; full when the bitmaps did not move',
  },
  {
    id: 'B4',
    title: 'External snapshot, block commit/copy, storage move, qemu-img convert',
    reasons: ['DISKS_CHANGED', 'BITMAP_MISSING'],
    decision: 'full (new source path or bitmaps dropped)',
  },
  {
    id: 'B5',
    title: 'Disk contents reset (revert, restore): bitmaps gone or stale',
    reasons: ['BITMAP_MISSING', 'ORPHAN_CHECKPOINTS'],
    decision: 'full; stale bitmaps of ours that no snapshot uses are cleaned up',
  },
  {
    id: 'B6',
    title: 'Disk added, removed, replaced or resized',
    reasons: ['DISKS_CHANGED'],
    decision: 'full',
  },
  {
    id: 'B7',
    title: 'Failed, cancelled or interrupted backup (checkpoint exists, snapshot does not)',
    reasons: ['ORPHAN_CHECKPOINTS', 'SNAPSHOT_RECONCILED'],
    decision:
      'orphan checkpoint cleaned up, plan from the last committed snapshot; a snapshot the repository committed but the lineage missed is imported first',
  },
  {
    id: 'B8',
    title: 'Other tools or people touching checkpoints',
    reasons: ['FOREIGN_CHECKPOINTS_IGNORED', 'CHECKPOINT_REDEFINED', 'BITMAP_MISSING'],
    decision:
      'foreign checkpoints ignored and never touched; ours deleted by others are redefined or replaced by a full',
  },
  {
    id: 'B9',
    title: 'Backup-side damage: parent pruned, missing, incomplete or failed verify',
    reasons: ['PARENT_SNAPSHOT_UNUSABLE', 'PARENT_CHECKPOINT_UNUSABLE'],
    decision: 'full',
  },
  {
    id: 'B10',
    title: 'Disks without persistent bitmaps (raw, block, qcow2 v2)',
    reasons: ['BITMAPS_UNSUPPORTED', 'DISKS_WITHOUT_BITMAPS'],
    decision:
      'those disks read in full every time, the others incrementally; with no disk that can hold bitmaps, full every time and no checkpoint',
  },
  {
    id: 'B11',
    title: 'Upgrades and reboots leaving bitmaps missing or broken',
    reasons: ['BITMAP_MISSING', 'BITMAP_INCONSISTENT'],
    decision: 'full; clean-up failures are recorded and never fail the run',
  },
];
