/**
 * Row ↔ core model conversions. postgres.js returns timestamptz as Date, bigint as string and
 * jsonb parsed.
 */
import type {
  BackupLevel,
  CheckpointDisk,
  CheckpointState,
  LineageCheckpoint,
  LineageDisk,
  LineageSnapshot,
  SnapshotStatus,
  UnconfirmedCheckpoint,
  VerifyState,
} from '@virtvault/core';

/** A `select-snapshots` row. */
export interface SnapshotRow {
  id: string;
  level: BackupLevel;
  host: string;
  checkpoint: string | null;
  parent: string | null;
  status: SnapshotStatus;
  verify_state: VerifyState;
  disks: LineageDisk[];
  started_at: Date;
  ended_at: Date;
}

/** A `select-checkpoints` row. */
export interface CheckpointRow {
  name: string;
  repository: string;
  host: string;
  created_at: Date;
  xml: string;
  disks: CheckpointDisk[];
  state: CheckpointState;
  state_reason: string | null;
}

/** A `select-runs` row. */
export interface RunRow {
  id: string;
  repository: string;
  host: string;
  status: 'running' | 'succeeded' | 'failed' | 'abandoned';
  planned_level: BackupLevel | null;
  final_level: BackupLevel | null;
  reasons: string[];
  error_code: string | null;
  error_message: string | null;
  snapshot_id: string | null;
  started_at: Date;
  heartbeat_at: Date;
  finished_at: Date | null;
}

/** A `select-events` row. */
export interface EventRow {
  at: Date;
  run_id: string | null;
  kind: string;
  message: string;
}

/** Snapshot row → core. */
export function toSnapshot(r: SnapshotRow): LineageSnapshot {
  return {
    id: r.id,
    level: r.level,
    host: r.host,
    checkpoint: r.checkpoint,
    parent: r.parent,
    status: r.status,
    verify: r.verify_state,
    disks: r.disks.map((d) => ({
      target: d.target,
      source: d.source,
      format: d.format,
      virtualSize: Number(d.virtualSize),
    })),
    startedAt: r.started_at.getTime(),
    endedAt: r.ended_at.getTime(),
  };
}

/** Checkpoint row → core. */
export function toCheckpoint(r: CheckpointRow): LineageCheckpoint {
  return {
    name: r.name,
    repository: r.repository,
    host: r.host,
    createdAt: r.created_at.getTime(),
    xml: r.xml,
    disks: r.disks,
    state: r.state,
    stateReason: r.state_reason,
  };
}

/**
 * `select-domain`'s `unconfirmed` column (JSON text: `json_agg` of name, repository and whether
 * the run is running) → core.
 */
export function toUnconfirmed(text: string): UnconfirmedCheckpoint[] {
  const rows = JSON.parse(text) as { name: string; repository: string; running?: boolean }[];
  return rows.map((u) => ({
    name: u.name,
    repository: u.repository,
    ...(u.running === true ? { running: true } : {}),
  }));
}
