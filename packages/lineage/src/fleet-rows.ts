/**
 * Row → fleet type conversions for `FleetStore` (postgres.js: timestamptz as Date, jsonb parsed).
 */
import type { BackupLevel, DomainRunState, LevelPolicy } from '@virtvault/core';

import type {
  DomainMove,
  FleetDomain,
  FleetHost,
  FleetRun,
  HostState,
  PolicyRetention,
  PolicySelector,
  RunStatus,
  RunTrigger,
  StoredPolicy,
} from './fleet-types.js';

/** A `fleet/select-hosts` row. */
export interface HostRow {
  name: string;
  address: string | null;
  max_concurrent: number;
  enabled: boolean;
  agent_version: string | null;
  last_contact_at: Date | null;
  last_error: string | null;
  state: HostState;
  domain_count: number;
}

/** A `fleet/select-domains` row. */
export interface DomainRow {
  uuid: string;
  name: string;
  current_host: string | null;
  last_seen: Date;
  tags: string[];
  state: DomainRunState | null;
  transient: boolean;
  gone_at: Date | null;
  snap_repository: string | null;
  snap_id: string | null;
  snap_level: BackupLevel | null;
  snap_ended_at: Date | null;
  run_id: string | null;
  run_status: RunStatus | null;
  run_started_at: Date | null;
  run_finished_at: Date | null;
  run_error_code: string | null;
}

/** A `fleet/select-policies` row. */
export interface PolicyRow {
  name: string;
  selector: PolicySelector;
  cron: string;
  time_zone: string;
  level: LevelPolicy;
  retention: PolicyRetention | null;
  repository: string;
  enabled: boolean;
  created_at: Date;
  updated_at: Date;
  rpo_seconds: number | null;
  notify: { webhooks?: string[]; events?: string[] } | null;
}

/** A `fleet/select-fleet-runs` row. */
export interface FleetRunRow {
  id: string;
  domain_uuid: string;
  domain_name: string;
  repository: string;
  host: string;
  status: RunStatus;
  planned_level: BackupLevel | null;
  final_level: BackupLevel | null;
  reasons: string[];
  error_code: string | null;
  error_message: string | null;
  snapshot_id: string | null;
  started_at: Date;
  heartbeat_at: Date;
  finished_at: Date | null;
  policy: string | null;
  trigger: RunTrigger | null;
  job_id: string | null;
  attempt: number | null;
}

/** A `fleet/select-domain-migrations` row. */
export interface MoveRow {
  domain_uuid: string;
  from_host: string | null;
  to_host: string;
  at: Date;
  detected_by: string;
}

const ms = (d: Date | null): number | null => (d === null ? null : d.getTime());

/** Host row → type. */
export function toHost(r: HostRow): FleetHost {
  return {
    name: r.name,
    address: r.address,
    maxConcurrent: r.max_concurrent,
    enabled: r.enabled,
    agentVersion: r.agent_version,
    lastContactAt: ms(r.last_contact_at),
    lastError: r.last_error,
    state: r.state,
    domainCount: r.domain_count,
  };
}

/** Domain row → type. */
export function toDomain(r: DomainRow): FleetDomain {
  const snap =
    r.snap_id !== null && r.snap_repository !== null && r.snap_level !== null
      ? {
          repository: r.snap_repository,
          id: r.snap_id,
          level: r.snap_level,
          endedAt: r.snap_ended_at?.getTime() ?? 0,
        }
      : null;
  const run =
    r.run_id !== null && r.run_status !== null
      ? {
          id: r.run_id,
          status: r.run_status,
          startedAt: r.run_started_at?.getTime() ?? 0,
          finishedAt: ms(r.run_finished_at),
          errorCode: r.run_error_code,
        }
      : null;
  return {
    uuid: r.uuid,
    name: r.name,
    currentHost: r.current_host,
    state: r.state,
    transient: r.transient,
    tags: r.tags,
    lastSeen: r.last_seen.getTime(),
    goneAt: ms(r.gone_at),
    lastSnapshot: snap,
    lastRun: run,
  };
}

/** Policy row → type. */
export function toPolicy(r: PolicyRow): StoredPolicy {
  return {
    name: r.name,
    selector: r.selector,
    cron: r.cron,
    timeZone: r.time_zone,
    level: r.level,
    retention: r.retention,
    repository: r.repository,
    enabled: r.enabled,
    rpoHours: r.rpo_seconds == null ? null : r.rpo_seconds / 3600,
    notify: { webhooks: r.notify?.webhooks ?? [], events: r.notify?.events ?? [] },
    createdAt: r.created_at.getTime(),
    updatedAt: r.updated_at.getTime(),
  };
}

/** Run row → type. */
export function toFleetRun(r: FleetRunRow): FleetRun {
  return {
    id: r.id,
    domainUuid: r.domain_uuid,
    domainName: r.domain_name,
    repository: r.repository,
    host: r.host,
    status: r.status,
    plannedLevel: r.planned_level,
    finalLevel: r.final_level,
    reasons: r.reasons,
    errorCode: r.error_code,
    errorMessage: r.error_message,
    snapshotId: r.snapshot_id,
    startedAt: r.started_at.getTime(),
    heartbeatAt: r.heartbeat_at.getTime(),
    finishedAt: ms(r.finished_at),
    policy: r.policy,
    trigger: r.trigger,
    jobId: r.job_id,
    attempt: r.attempt,
  };
}

/** Move row → type. */
export function toMove(r: MoveRow): DomainMove {
  return {
    domainUuid: r.domain_uuid,
    from: r.from_host,
    to: r.to_host,
    at: r.at.getTime(),
    detectedBy: r.detected_by,
  };
}
