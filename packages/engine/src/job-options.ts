/** What every backup job of a domain is given, running (pull mode) or stopped (qemu-nbd). */
import type { Domain } from '@virtvault/libvirt';
import type { SnapshotWriter } from '@virtvault/repo';

import type { DiskProgress } from './disk-copy.js';

/**
 * The points a backup passes, in order: the executor starts; the job runs (or the stopped domain's
 * images are held) and the copy begins; the copy is done and the commit begins; the snapshot is
 * committed. A caller timing them sees where a slow backup spent its time.
 */
export type BackupPhase = 'started' | 'copying' | 'committing' | 'committed';

/** Options shared by {@link PullBackupOptions} and {@link OfflineBackupOptions}. */
export interface BackupJobOptions {
  /** The domain. */
  domain: Domain;
  /** Writer, opened, with every disk started. */
  writer: SnapshotWriter;
  /** Repository slot size. */
  slotSize: number;
  /** Checkpoint (= bitmap name) to read changes since; null for a full. */
  incrementalFrom: string | null;
  /**
   * Disks read in full even when `incrementalFrom` is set: they cannot hold bitmaps (raw, qcow2
   * v2), so the checkpoint has none for them. @default none
   */
  fullDisks?: readonly string[];
  /** Checkpoint to create, with the disks that get a bitmap; null for none. */
  newCheckpoint: { name: string; disks: string[] } | null;
  /** Directory for the NBD sockets and scratch files (short path: sockets hold 107 bytes). */
  scratchDir: string;
  /** Unique job tag (the snapshot id). */
  tag: string;
  /** Whether the parent's slot holds data, per disk. */
  parentHasData?: (target: string, slot: number) => boolean;
  /** Quiesce was asked (running: freeze the guest's filesystems while the job starts). */
  quiesce?: boolean;
  /** Progress per disk. */
  onProgress?: (p: DiskProgress) => void;
  /** Cancels the backup. */
  signal?: AbortSignal;
  /** Called as the backup passes each {@link BackupPhase}. */
  onPhase?: (phase: BackupPhase) => void;
}
