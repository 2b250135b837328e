/**
 * Fleet types of the lineage: hosts as the controller dispatches to them, inventory domains,
 * backup policies and runs with who asked for them. Times are epoch ms.
 */
import type { BackupLevel, DomainRunState, LevelPolicy } from '@virtvault/core';

/** Reachability of a host's agent as the inventory saw it last. */
export type HostState = 'up' | 'down' | 'unknown';

/** A host of the fleet. */
export interface FleetHost {
  /** Host name (the agent's certificate names it). */
  name: string;
  /** Agent address `host:port`, null for hosts only known from runs. */
  address: string | null;
  /** Backups at once on this host. */
  maxConcurrent: number;
  /** Disabled hosts get no backup jobs. */
  enabled: boolean;
  /** Version the agent reported, if ever reached. */
  agentVersion: string | null;
  /** Last successful contact. */
  lastContactAt: number | null;
  /** Last contact error, null after a success. */
  lastError: string | null;
  /** Reachability. */
  state: HostState;
  /** Domains whose current host this is. */
  domainCount: number;
}

/** A host's configuration. */
export interface HostConfig {
  /** Name. */
  name: string;
  /** `host:port` of the agent. */
  address: string;
  /** Backups at once. */
  maxConcurrent: number;
  /** Enabled. */
  enabled: boolean;
}

/** The outcome of one contact with a host's agent. */
export interface HostContact {
  /** Host. */
  name: string;
  /** up after a successful call, down after a failed one. */
  state: 'up' | 'down';
  /** Agent version when known. */
  agentVersion: string | null;
  /** Error of a failed contact. */
  error: string | null;
  /** When. */
  at: number;
}

/** One domain as an agent's inventory reports it. */
export interface InventoryEntry {
  /** UUID. */
  uuid: string;
  /** Name. */
  name: string;
  /** Run state. */
  state: DomainRunState;
  /** No persistent definition. */
  transient: boolean;
  /** Policy selector tags. */
  tags: string[];
}

/** A domain of the fleet with its last snapshot and last run. */
export interface FleetDomain {
  /** UUID. */
  uuid: string;
  /** Name. */
  name: string;
  /** Host it is on now, per the inventory. */
  currentHost: string | null;
  /** Run state, null when only known from backups. */
  state: DomainRunState | null;
  /** Transient. */
  transient: boolean;
  /** Tags. */
  tags: string[];
  /** Last time seen. */
  lastSeen: number;
  /** When its host stopped listing it (undefined, or a transient domain that ended); else null. */
  goneAt: number | null;
  /** Newest committed snapshot. */
  lastSnapshot: { repository: string; id: string; level: BackupLevel; endedAt: number } | null;
  /** Newest run. */
  lastRun: {
    id: string;
    status: RunStatus;
    startedAt: number;
    finishedAt: number | null;
    errorCode: string | null;
  } | null;
}

/** A domain seen on another host than before. */
export interface DomainMove {
  /** Domain UUID. */
  domainUuid: string;
  /** Previous host, null when first seen. */
  from: string | null;
  /** New host. */
  to: string;
  /** When noticed. */
  at: number;
  /** Who noticed: `inventory`, `events`, `dispatcher`. */
  detectedBy: string;
}

/** Which domains a policy backs up; every given field must match. */
export interface PolicySelector {
  /** Shell-style glob over the domain name (`*`, `?`). */
  nameGlob?: string;
  /** Current host. */
  host?: string;
  /** One of the domain's tags. */
  tag?: string;
}

/** GFS retention of a policy (the fields the agent's prune takes). */
export interface PolicyRetention {
  /** Keep the last N. */
  keepLast: number;
  /** One per day for N days. */
  keepDaily: number;
  /** One per week for N weeks. */
  keepWeekly: number;
  /** One per month for N months. */
  keepMonthly: number;
}

/** A backup policy. */
export interface FleetPolicy {
  /** Unique name (`[A-Za-z0-9._-]`). */
  name: string;
  /** Which domains. */
  selector: PolicySelector;
  /** Cron pattern (5 or 6 fields). */
  cron: string;
  /** IANA time zone of the cron pattern. */
  timeZone: string;
  /** Level rules. */
  level: LevelPolicy;
  /** Retention applied after backups, or null for none. */
  retention: PolicyRetention | null;
  /** Repository name. */
  repository: string;
  /** Disabled policies never fire. */
  enabled: boolean;
  /** Recovery point objective, hours (the report's default when absent or null). */
  rpoHours?: number | null;
  /** Webhooks for this policy's VMs. */
  notify?: PolicyNotify;
}

/** Notification settings of a policy. */
export interface PolicyNotify {
  /** Webhook URLs (http or https). */
  webhooks: string[];
  /** Kinds sent: `rpo-violation`, `run-failed`, `chain-break` (all when empty). */
  events: string[];
}

/** A stored policy. */
export interface StoredPolicy extends FleetPolicy {
  /** First stored. */
  createdAt: number;
  /** Last changed. */
  updatedAt: number;
}

/** Run states. */
export type RunStatus = 'running' | 'succeeded' | 'failed' | 'abandoned';

/** What started a run. */
export type RunTrigger = 'schedule' | 'manual' | 'retry';

/** Who asked for a run. */
export interface RunTag {
  /** Policy name, null for manual runs without one. */
  policy: string | null;
  /** Trigger. */
  trigger: RunTrigger;
  /** Queue job id. */
  jobId: string;
  /** Attempt, from 1. */
  attempt: number;
}

/** Filter of `listRuns`; absent fields match everything. */
export interface RunFilter {
  /** Host. */
  host?: string;
  /** Domain UUID or name. */
  domain?: string;
  /** Status. */
  status?: RunStatus;
  /** Policy. */
  policy?: string;
  /** Started at or after (epoch ms). */
  since?: number;
  /** Started before (epoch ms). */
  until?: number;
  /** At most this many, newest first. @default 100 */
  limit?: number;
  /** Runs carrying this reason code, or failed with this error code. */
  reason?: string;
}

/** A run with its domain and tag. */
export interface FleetRun {
  /** Run id. */
  id: string;
  /** Domain UUID. */
  domainUuid: string;
  /** Domain name. */
  domainName: string;
  /** Repository. */
  repository: string;
  /** Host. */
  host: string;
  /** Status. */
  status: RunStatus;
  /** Level planned first. */
  plannedLevel: BackupLevel | null;
  /** Level taken. */
  finalLevel: BackupLevel | null;
  /** Reason codes. */
  reasons: string[];
  /** Error code of a failed or abandoned run. */
  errorCode: string | null;
  /** Error message. */
  errorMessage: string | null;
  /** Snapshot of a successful run. */
  snapshotId: string | null;
  /** Start. */
  startedAt: number;
  /** Last heartbeat. */
  heartbeatAt: number;
  /** End. */
  finishedAt: number | null;
  /** Policy, when tagged. */
  policy: string | null;
  /** Trigger, when tagged. */
  trigger: RunTrigger | null;
  /** Queue job id, when tagged. */
  jobId: string | null;
  /** Attempt, when tagged. */
  attempt: number | null;
}

/** The regular expression source (anchored) of a shell-style glob: `*` any run, `?` one char. */
export function globToRegExpSource(glob: string): string {
  let out = '';
  for (const ch of glob) {
    if (ch === '*') {
      out += '.*';
    } else if (ch === '?') {
      out += '.';
    } else {
      out += ch.replace(/[\\^$.|+()[\]{}]/g, '\\$&');
    }
  }
  return `^${out}$`;
}

/** Whether a domain matches a selector (the same rules the store's SQL applies). */
export function matchesSelector(
  selector: PolicySelector,
  domain: { name: string; currentHost: string | null; tags: readonly string[] },
): boolean {
  if (selector.nameGlob !== undefined) {
    if (!new RegExp(globToRegExpSource(selector.nameGlob)).test(domain.name)) {
      return false;
    }
  }
  if (selector.host !== undefined && domain.currentHost !== selector.host) {
    return false;
  }
  return selector.tag === undefined || domain.tags.includes(selector.tag);
}
