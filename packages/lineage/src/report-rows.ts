/** Row types of the `ReportStore` (times are epoch ms). */
import type { TimelineFailedRun, TimelineMigration, TimelineSnapshot } from '@virtvault/core';

/** One VM's protection figures. */
export interface VmStatus {
  /** UUID. */
  uuid: string;
  /** Name. */
  name: string;
  /** Host that runs it now, as the inventory last saw. */
  currentHost: string | null;
  /** Run state. */
  state: string | null;
  /** Policy tags. */
  tags: string[];
  /** Last time the inventory saw it. */
  lastSeenAt: number | null;
  /** The last committed snapshot. */
  lastSnapshot: { id: string; endedAt: number; level: string; repository: string } | null;
  /** The most recent run. */
  lastRun: {
    id: string;
    status: string;
    level: string | null;
    reasons: string[];
    errorCode: string | null;
    startedAt: number;
    finishedAt: number | null;
    policy: string | null;
  } | null;
  /** Snapshots since the last full in the last snapshot's repository (the full included). */
  chainLength: number;
  /** The last run's policy RPO, seconds, when set. */
  rpoSeconds: number | null;
}

/** One host's state. */
export interface HostStatus {
  /** Name. */
  name: string;
  /** Agent address. */
  address: string | null;
  /** up, down or unknown. */
  state: string;
  /** Dispatching enabled. */
  enabled: boolean;
  /** Agent version. */
  agentVersion: string | null;
  /** Backups at once. */
  maxConcurrent: number;
  /** Last successful contact. */
  lastContactAt: number | null;
  /** Last contact error. */
  lastError: string | null;
  /** VMs on it now. */
  vms: number;
  /** Runs running on it. */
  running: number;
}

/** Runs of one host on one UTC day. */
export interface HostDay {
  /** Host. */
  host: string;
  /** `YYYY-MM-DD`. */
  day: string;
  /** Succeeded runs. */
  succeeded: number;
  /** Failed runs. */
  failed: number;
  /** Abandoned runs. */
  abandoned: number;
  /** Still running. */
  running: number;
  /** Bytes read from disks. */
  bytesRead: number;
  /** New chunk payload. */
  bytesNew: number;
}

/** Figures of one repository. */
export interface RepositoryStats {
  /** Repository. */
  repository: string;
  /** Committed snapshots. */
  snapshots: number;
  /** VMs with snapshots. */
  vms: number;
  /** Sum of the disks' virtual sizes over all snapshots. */
  logicalBytes: number;
  /** Bytes read. */
  bytesRead: number;
  /** New chunk payload, before compression. */
  bytesNew: number;
}

/** Runs carrying one reason code. */
export interface ReasonCount {
  /** Reason code. */
  reason: string;
  /** Runs. */
  runs: number;
}

/** A domain move seen. */
export interface MigrationSeen {
  /** Domain UUID. */
  domainUuid: string;
  /** Domain name. */
  name: string;
  /** Previous host. */
  fromHost: string | null;
  /** New host. */
  toHost: string;
  /** Epoch ms. */
  at: number;
  /** Who noticed (inventory, dispatcher). */
  detectedBy: string;
}

/** The rows of a VM's timeline. */
export interface TimelineRows {
  /** Snapshots. */
  snapshots: TimelineSnapshot[];
  /** Failed or abandoned runs. */
  failed: TimelineFailedRun[];
  /** Host moves. */
  migrations: TimelineMigration[];
}

/** A notification to queue for one webhook. */
export interface NotificationInput {
  /** Same key, same notification: sent once. */
  dedupeKey: string;
  /** Webhook URL. */
  url: string;
  /** Kind. */
  kind: 'rpo-violation' | 'run-failed' | 'chain-break';
  /** Domain, if any. */
  domainUuid: string | null;
  /** JSON body to post. */
  payload: unknown;
  /** Epoch ms. */
  at: number;
}

/** A claimed notification to send. */
export interface Claimed {
  /** Row id. */
  id: number;
  /** Webhook URL. */
  url: string;
  /** Kind. */
  kind: string;
  /** JSON body. */
  payload: unknown;
  /** Attempts including this one. */
  attempts: number;
}

/** A finished run, for notifications. */
export interface FinishedRun {
  /** Run id. */
  id: string;
  /** Domain UUID. */
  domainUuid: string;
  /** Domain name. */
  name: string;
  /** Host. */
  host: string;
  /** succeeded, failed or abandoned. */
  status: string;
  /** Level taken (or planned). */
  level: string | null;
  /** Reason codes. */
  reasons: string[];
  /** Error code. */
  errorCode: string | null;
  /** Error message. */
  errorMessage: string | null;
  /** Epoch ms. */
  finishedAt: number;
  /** Policy. */
  policy: string | null;
  /** Snapshot made. */
  snapshotId: string | null;
  /** Repository. */
  repository: string;
}

/** Reporting settings of one policy. */
export interface PolicySettings {
  /** Policy name. */
  name: string;
  /** RPO, seconds (null: the default). */
  rpoSeconds: number | null;
  /** Webhook URLs. */
  webhooks: string[];
  /** Notification kinds sent (empty: all). */
  events: string[];
}
