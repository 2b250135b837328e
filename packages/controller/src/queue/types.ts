/**
 * What queue jobs carry and what their handlers return: plain data, so the dispatcher and the
 * service never see BullMQ.
 */
import type { LevelPolicy } from '@virtvault/core';
import type { PolicyRetention, RunTrigger } from '@virtvault/lineage';

/** A backup of one domain. */
export interface BackupJobData {
  /** Domain UUID. */
  domainUuid: string;
  /** Domain name when enqueued (logs). */
  domainName: string;
  /** Policy, null for a manual run without one. */
  policy: string | null;
  /** Repository. */
  repository: string;
  /** Level rules. */
  level: LevelPolicy;
  /** Retention applied after the backup, or null. */
  retention: PolicyRetention | null;
  /** Time zone of the retention periods. */
  timeZone: string;
  /** The policy's fire time (or the manual request's time), epoch ms: part of the job id. */
  fireTime: number;
  /** What asked for it. */
  trigger: Exclude<RunTrigger, 'retry'>;
  /** Times the job waited for another run of its domain to end (absent: none). */
  busyWaits?: number;
}

/** Prune of one domain, or GC of one repository, through an agent. */
export interface MaintenanceJobData {
  /** Which. */
  kind: 'prune' | 'gc';
  /** Repository. */
  repository: string;
  /** Policy that asked for it. */
  policy: string | null;
  /** Domain (prune). */
  domainUuid: string | null;
  /** Retention (prune). */
  retention: PolicyRetention | null;
  /** Time zone of the retention periods. */
  timeZone: string;
}

/** One job as its handler sees it. */
export interface JobContext {
  /** Job id. */
  id: string;
  /** Attempt, from 1. */
  attempt: number;
  /** Aborted when the job's lock is lost or the replica shuts down. */
  signal: AbortSignal;
  /** Reports progress (visible in the queue). */
  progress(p: Record<string, unknown>): Promise<void>;
}

/** Outcome of a backup job. */
export type BackupOutcome =
  { status: 'done'; runId: string; snapshotId: string } | { status: 'rerouted'; to: string };

/** The controller's work, called by the queue layer. */
export interface JobHandlers {
  /** A policy fired: fan out its backups. */
  plan(policy: string, fireTime: number, ctx: JobContext): Promise<void>;
  /** One backup on `host`. */
  backup(host: string, data: BackupJobData, ctx: JobContext): Promise<BackupOutcome>;
  /** Prune or GC through the agent of `host` (any up host for GC: `host` null). */
  maintenance(host: string | null, data: MaintenanceJobData, ctx: JobContext): Promise<unknown>;
}

/** A job as listed for tests and the API. */
export interface QueuedJob {
  /** Job id. */
  id: string;
  /** Job name: `backup`, `prune`, `gc`, `plan`. */
  name: string;
  /** BullMQ state: waiting, active, delayed, completed, failed, ... */
  state: string;
  /** Payload. */
  data: unknown;
  /** Attempts made. */
  attemptsMade: number;
  /** Attempts allowed before the job fails for good. */
  attempts: number;
  /** Return value of a completed job. */
  returnValue: unknown;
}
