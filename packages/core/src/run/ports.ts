/**
 * The ports `runBackup` drives. They belong to core; adapters implement them: the hypervisor port
 * by the agent over `libvirt`, the executor by `engine`, the manifest source by `repo`, the lineage
 * store by `lineage` (Postgres or PGlite). Tests use in-memory `Fake…` implementations.
 *
 * Contract for every port: methods throw errors carrying a stable string `code` (any package's
 * error class); the caller owns nothing the adapter opened and closes nothing of it.
 */
import type { DomainLineage, VerifyState } from '../model/lineage.js';
import type { BackupLevel, SnapshotManifest } from '../model/manifest.js';
import type { ObservedDomain } from '../model/observed.js';
import type { BitmapRemoval, RedefineAction } from '../model/plan.js';
import type { ReasonCode } from '../model/reasons.js';

/** Epoch milliseconds. */
export interface Clock {
  /** Current time, epoch ms. */
  now(): number;
}

/** Unique, time-sortable ids (ULIDs in production). */
export interface IdGenerator {
  /** A new id, safe as a path component and as a checkpoint name suffix. */
  next(): string;
}

/**
 * The hypervisor as runBackup needs it. Deletes are the crash-safe pieces of clean-up:
 * `deleteCheckpointMetadata` is libvirt's METADATA_ONLY delete; `removeBitmap` removes one qcow2
 * bitmap (QMP `block-dirty-bitmap-remove` on a running domain, `qemu-img bitmap --remove` offline).
 */
export interface Hypervisor {
  /** Observes a domain by name or UUID. */
  observe(domain: string): Promise<ObservedDomain>;
  /** Redefines one checkpoint from XML (REDEFINE, plus REDEFINE_VALIDATE when asked). */
  redefineCheckpoint(domainUuid: string, action: RedefineAction): Promise<void>;
  /** Deletes libvirt's metadata of one checkpoint, leaving bitmaps alone. */
  deleteCheckpointMetadata(domainUuid: string, checkpoint: string): Promise<void>;
  /** Removes one bitmap from one disk. */
  removeBitmap(domainUuid: string, disk: string, bitmap: string, via: BitmapRemoval): Promise<void>;
}

/** What confirms an attempt started early. */
export interface Confirmed {
  /** The reasons to record in the manifest. */
  reasons: ReasonCode[];
}

/** What the executor is asked to back up. */
export interface BackupRequest {
  /** Repository to write into. */
  repository: string;
  /** Id of the snapshot to create. */
  snapshotId: string;
  /** The domain as observed at the start of the run. */
  observed: ObservedDomain;
  /** Level. */
  level: BackupLevel;
  /** Parent snapshot to copy unchanged slots from (null for a full). */
  parentSnapshot: string | null;
  /** Checkpoint whose bitmaps give the changed blocks (null for a full). */
  incrementalFrom: string | null;
  /** Checkpoint to create with the backup, or null for none. */
  newCheckpoint: { name: string; disks: string[]; mode: 'live' | 'offline' } | null;
  /** Reason codes to write into the manifest. */
  reasons: ReasonCode[];
  /**
   * Freeze the guest's filesystems through the guest agent while the backup job starts; without
   * an agent the backup proceeds crash-consistent and says so. @default false
   */
  quiesce?: boolean;
  /**
   * Call now and then during long transfers: keeps the run's lease alive. Rejects with code
   * `RUN_TAKEN_OVER` once another run has taken the domain over: the executor then stops the
   * attempt as if cancelled (nothing committed, its checkpoint removed).
   */
  heartbeat: () => Promise<void>;
  /**
   * Set for an attempt started before its plan was confirmed (see {@link PlanHints}): the
   * executor commits nothing before it resolves, and cancels the attempt when it rejects. It
   * resolves with the reasons to record, which replace `reasons` (the store may know of findings
   * the hint did not, such as snapshots reconciled from manifests).
   */
  proceed?: Promise<Confirmed>;
}

/**
 * Runs one backup job and commits the snapshot to the repository (manifest written last).
 * Contract: returns only after the manifest is durable. Throws an error with code
 * `INCREMENTAL_REJECTED` when the hypervisor refuses an incremental at backup start (checkpoint
 * inconsistent, bitmap not found, checkpoint not found), or `PARENT_UNREADABLE` when the parent
 * snapshot cannot be read from the repository (damaged index or manifest), both before any data
 * was written; `runBackup` then retries once as a full. Any other error fails the run. It cleans
 * up its own backup job.
 */
export interface BackupExecutor {
  /** Takes the backup; returns the committed manifest. */
  execute(request: BackupRequest): Promise<SnapshotManifest>;
}

/** The repository's committed manifests (the truth about which snapshots exist). */
export interface ManifestSource {
  /** Manifests of one domain in one repository; folders without a manifest are not listed. */
  listManifests(repository: string, domainUuid: string): Promise<SnapshotManifest[]>;
  /**
   * Verify results recorded in the repository for the domain's snapshots, by snapshot id (never
   * verified: absent). The planner takes them over the lineage's own; a source without it leaves
   * the lineage's verify state as it is.
   */
  verifyResults?(repository: string, domainUuid: string): Promise<ReadonlyMap<string, VerifyState>>;
}

/** A run being started. */
export interface RunStart {
  /** Run id. */
  id: string;
  /** Repository. */
  repository: string;
  /** Domain. */
  domain: { uuid: string; name: string };
  /** Host the domain runs on now. */
  host: string;
  /** Epoch ms. */
  startedAt: number;
  /** The checkpoint the run creates, when it is known already (a backup started early). */
  newCheckpoint?: string;
  /**
   * The host's agent never answered: the run is recorded against `host`, but neither the host nor
   * the domain counts as seen there (the VM may have left a host that died).
   */
  unreached?: boolean;
}

/** A snapshot to record with its run, after the repository committed it. */
export interface SnapshotCommit {
  /** Run id. */
  runId: string;
  /** Repository. */
  repository: string;
  /** The committed manifest. */
  manifest: SnapshotManifest;
  /** Level the planner chose first. */
  plannedLevel: BackupLevel;
  /** Final reasons of the run. */
  reasons: ReasonCode[];
  /** Epoch ms. */
  finishedAt: number;
}

/** A failed run. */
export interface RunFailure {
  /** Stable error code. */
  errorCode: string;
  /** Message. */
  message: string;
  /** Level the planner chose, if it got that far. */
  plannedLevel: BackupLevel | null;
  /** Reasons so far. */
  reasons: ReasonCode[];
  /** Epoch ms. */
  finishedAt: number;
}

/** A checkpoint state change. */
export interface CheckpointStateUpdate {
  /** Checkpoint name. */
  checkpoint: string;
  /** New state. */
  state: 'broken' | 'deleted';
  /** Reason code or short text. */
  reason: string;
}

/** Kinds of lineage events. */
export type LineageEventKind =
  | 'domain-migrated'
  | 'chain-broken'
  | 'fallback-full'
  | 'checkpoint-redefined'
  | 'cleanup-failed'
  | 'snapshot-reconciled'
  | 'run-abandoned';

/** One event for the report. */
export interface LineageEvent {
  /** Domain. */
  domainUuid: string;
  /** Run, if any. */
  runId: string | null;
  /** Epoch ms. */
  at: number;
  /** Kind. */
  kind: LineageEventKind;
  /** Plain-words detail. */
  message: string;
}

/** What reconciling the lineage with the repository changed. */
export interface ReconcileResult {
  /** Snapshots imported from manifests the lineage did not know. */
  imported: string[];
  /** Committed snapshots of the lineage whose manifest is gone, now marked missing. */
  missing: string[];
  /** Snapshots marked missing whose manifest is back, committed again. */
  found: string[];
}

/**
 * The lineage database as runBackup needs it. `beginRun` is the per-domain concurrency guard:
 * at most one running run per domain (any repository), enforced by the store itself.
 */
export interface LineageStore {
  /**
   * Records a run as running. Runs of the domain still running but without a heartbeat for
   * `staleAfterMs` are marked abandoned first (a crashed process). Throws code `ALREADY_RUNNING`
   * when another run of the domain is running. Upserts host and domain (current host).
   * @returns ids of the abandoned runs
   */
  beginRun(run: RunStart, staleAfterMs: number): Promise<string[]>;
  /**
   * Keeps a running run's lease alive.
   * @returns false when the run is no longer running: another run took it over (its heartbeats
   *   had stopped for longer than that run's `staleAfterMs`), so this one must stop
   */
  heartbeat(runId: string, at: number): Promise<boolean>;
  /**
   * Records the checkpoint a running run is about to create, before it exists: should the run's
   * outcome never reach the lineage, other repositories' runs leave it alone
   * ({@link DomainLineage.unconfirmed}).
   */
  noteCheckpoint(runId: string, checkpoint: string): Promise<void>;
  /**
   * Makes the lineage match the repository's manifests: imports unknown snapshots (and their
   * checkpoints) idempotently, marks committed snapshots without a manifest missing.
   */
  reconcile(
    repository: string,
    domainUuid: string,
    manifests: readonly SnapshotManifest[],
    at: number,
  ): Promise<ReconcileResult>;
  /** The domain's lineage in one repository (empty when never backed up). */
  loadLineage(repository: string, domain: { uuid: string; name: string }): Promise<DomainLineage>;
  /** Records checkpoint state changes; unknown names are ignored. */
  markCheckpoints(
    domainUuid: string,
    updates: readonly CheckpointStateUpdate[],
    at: number,
  ): Promise<void>;
  /** Records snapshot, its checkpoint and the run's success in one transaction; idempotent. */
  commitSnapshot(commit: SnapshotCommit): Promise<void>;
  /** Records the run's failure. */
  failRun(runId: string, failure: RunFailure): Promise<void>;
  /** Records an event. */
  recordEvent(event: LineageEvent): Promise<void>;
}

/**
 * The lineage a domain's last run left, kept where it can be read before the lineage store is
 * open (the embedded store takes ~0.25 s to start). A hint is never trusted: a run may start its
 * backup from the plan a hint gives, but commits only when the plan from the store is the same.
 */
export interface PlanHints {
  /** The lineage last saved for the domain in `repository`, or null. */
  load(repository: string, domainUuid: string): Promise<DomainLineage | null>;
  /** Saves the lineage for the domain's next run; failures are the caller's to ignore. */
  save(lineage: DomainLineage): Promise<void>;
}
