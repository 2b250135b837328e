/**
 * `ReportStore`: the fleet report's reads of the lineage (VM protection, host state, runs per
 * host and day, repository figures, reason counts, migrations, a VM's timeline rows) and the
 * notification outbox. One SQL file per operation under `sql/report/`.
 */
import type postgres from 'postgres';
import { type Sql } from 'postgres';

import { LineageError } from './errors.js';
import { openMigrated } from './pg-open.js';
import { loadSqlDir } from './sql-dir.js';
import type * as R from './report-rows.js';

export type * from './report-rows.js';

const QUERIES = [
  'vm-status',
  'host-status',
  'runs-per-host-day',
  'repository-stats',
  'reason-counts',
  'migrations-since',
  'domain-snapshots',
  'domain-failed-runs',
  'domain-migrations',
  'insert-notification',
  'claim-notifications',
  'finish-notification',
  'finished-runs-since',
  'policy-settings',
] as const;
type Query = (typeof QUERIES)[number];

type Row = Record<string, unknown>;

const ms = (v: unknown): number | null => (v instanceof Date ? v.getTime() : null);
const num = (v: unknown): number => (v === null || v === undefined ? 0 : Number(v));
const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
const strs = (v: unknown): string[] => (Array.isArray(v) ? v.map(String) : []);

function toVm(r: Row): R.VmStatus {
  return {
    uuid: String(r['uuid']),
    name: String(r['name']),
    currentHost: str(r['current_host']),
    state: str(r['state']),
    tags: strs(r['tags']),
    lastSeenAt: ms(r['last_seen']),
    lastSnapshot:
      r['snap_id'] == null
        ? null
        : {
            id: str(r['snap_id']) ?? '',
            endedAt: ms(r['snap_at']) ?? 0,
            level: String(r['snap_level']),
            repository: String(r['snap_repository']),
          },
    lastRun:
      r['run_id'] == null
        ? null
        : {
            id: str(r['run_id']) ?? '',
            status: String(r['run_status']),
            level: str(r['run_level']) ?? str(r['run_planned_level']),
            reasons: strs(r['run_reasons']),
            errorCode: str(r['run_error']),
            startedAt: ms(r['run_started_at']) ?? 0,
            finishedAt: ms(r['run_finished_at']),
            policy: str(r['run_policy']),
          },
    chainLength: num(r['chain_length']),
    rpoSeconds: r['rpo_seconds'] == null ? null : num(r['rpo_seconds']),
  };
}

function toHost(r: Row): R.HostStatus {
  return {
    name: String(r['name']),
    address: str(r['address']),
    state: str(r['state']) ?? 'unknown',
    enabled: r['enabled'] !== false,
    agentVersion: str(r['agent_version']),
    maxConcurrent: num(r['max_concurrent']),
    lastContactAt: ms(r['last_contact_at']),
    lastError: str(r['last_error']),
    vms: num(r['vms']),
    running: num(r['running']),
  };
}

/** Report reads and the notification outbox on Postgres. Open with `connect`, end with `close`. */
export class ReportStore {
  #closed = false;

  private constructor(
    private readonly sql: Sql,
    private readonly q: Readonly<Record<Query, string>>,
  ) {}

  /** Connects and applies pending migrations. */
  static async connect(options: { url: string; max?: number }): Promise<ReportStore> {
    const q = await loadSqlDir('report', QUERIES);
    const sql = await openMigrated(options.url, options.max ?? 2, 'report');
    return new ReportStore(sql, q);
  }

  /** Closes the pool; idempotent. */
  async close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      await this.sql.end({ timeout: 5 });
    }
  }

  private async run(name: Query, params: unknown[] = []): Promise<Row[]> {
    if (this.#closed) {
      throw new LineageError('CLOSED', 'report store is closed');
    }
    try {
      return await this.sql.unsafe<Row[]>(
        this.q[name],
        params as postgres.ParameterOrJSON<never>[],
      );
    } catch (e) {
      throw new LineageError('QUERY_FAILED', `report query ${name} failed: ${String(e)}`, {
        cause: e,
      });
    }
  }

  /** Every VM with its protection figures. */
  async vmStatus(): Promise<R.VmStatus[]> {
    return (await this.run('vm-status')).map(toVm);
  }

  /** Every host with its agent state. */
  async hostStatus(): Promise<R.HostStatus[]> {
    return (await this.run('host-status')).map(toHost);
  }

  /** Runs per host and UTC day since `since` (epoch ms). */
  async runsPerHostDay(since: number): Promise<R.HostDay[]> {
    const rows = await this.run('runs-per-host-day', [new Date(since).toISOString()]);
    return rows.map((r) => ({
      host: String(r['host']),
      day: String(r['day']),
      succeeded: num(r['succeeded']),
      failed: num(r['failed']),
      abandoned: num(r['abandoned']),
      running: num(r['running']),
      bytesRead: num(r['bytes_read']),
      bytesNew: num(r['bytes_new']),
    }));
  }

  /** Figures per repository from the committed snapshots. */
  async repositoryStats(): Promise<R.RepositoryStats[]> {
    return (await this.run('repository-stats')).map((r) => ({
      repository: String(r['repository']),
      snapshots: num(r['snapshots']),
      vms: num(r['vms']),
      logicalBytes: num(r['logical_bytes']),
      bytesRead: num(r['bytes_read']),
      bytesNew: num(r['bytes_new']),
    }));
  }

  /** Reason codes of runs since `since`, with the number of runs carrying each. */
  async reasonCounts(since: number): Promise<R.ReasonCount[]> {
    const rows = await this.run('reason-counts', [new Date(since).toISOString()]);
    return rows.map((r) => ({ reason: String(r['reason']), runs: num(r['runs']) }));
  }

  /** Domain moves since `since`. */
  async migrationsSince(since: number): Promise<R.MigrationSeen[]> {
    const rows = await this.run('migrations-since', [new Date(since).toISOString()]);
    return rows.map((r) => ({
      domainUuid: String(r['domain_uuid']),
      name: String(r['name']),
      fromHost: str(r['from_host']),
      toHost: String(r['to_host']),
      at: ms(r['at']) ?? 0,
      detectedBy: String(r['detected_by']),
    }));
  }

  /** The rows a VM's timeline is built from. */
  async timelineRows(domainUuid: string): Promise<R.TimelineRows> {
    const [snaps, failed, moves] = await Promise.all([
      this.run('domain-snapshots', [domainUuid]),
      this.run('domain-failed-runs', [domainUuid]),
      this.run('domain-migrations', [domainUuid]),
    ]);
    return {
      snapshots: snaps.map((r) => ({
        id: String(r['id']),
        level: String(r['level']) as 'full',
        host: String(r['host']),
        repository: String(r['repository']),
        endedAt: ms(r['ended_at']) ?? 0,
        reasons: strs(r['reasons']),
        status: String(r['status']),
      })),
      failed: failed.map((r) => ({
        id: String(r['id']),
        host: String(r['host']),
        status: String(r['status']),
        at: ms(r['at']) ?? 0,
        errorCode: str(r['error_code']),
        message: str(r['error_message']),
      })),
      migrations: moves.map((r) => ({
        at: ms(r['at']) ?? 0,
        fromHost: str(r['from_host']),
        toHost: String(r['to_host']),
      })),
    };
  }

  /** Runs finished in [from, to). */
  async finishedRuns(from: number, to: number): Promise<R.FinishedRun[]> {
    const rows = await this.run('finished-runs-since', [
      new Date(from).toISOString(),
      new Date(to).toISOString(),
    ]);
    return rows.map((r) => ({
      id: String(r['id']),
      domainUuid: String(r['domain_uuid']),
      name: String(r['name']),
      host: String(r['host']),
      status: String(r['status']),
      level: str(r['final_level']) ?? str(r['planned_level']),
      reasons: strs(r['reasons']),
      errorCode: str(r['error_code']),
      errorMessage: str(r['error_message']),
      finishedAt: ms(r['finished_at']) ?? 0,
      policy: str(r['policy']),
      snapshotId: str(r['snapshot_id']),
      repository: String(r['repository']),
    }));
  }

  /** RPO and notification settings per policy. */
  async policySettings(): Promise<R.PolicySettings[]> {
    return (await this.run('policy-settings')).map((r) => {
      const notify = (r['notify'] ?? {}) as { webhooks?: unknown; events?: unknown };
      return {
        name: String(r['name']),
        rpoSeconds: r['rpo_seconds'] == null ? null : num(r['rpo_seconds']),
        webhooks: strs(notify.webhooks),
        events: strs(notify.events),
      };
    });
  }

  /** Queues a notification for one webhook; false when the key was queued before. */
  async enqueueNotification(n: R.NotificationInput): Promise<boolean> {
    const rows = await this.run('insert-notification', [
      n.dedupeKey,
      n.url,
      n.kind,
      n.domainUuid,
      JSON.stringify(n.payload),
      new Date(n.at).toISOString(),
    ]);
    return rows.length > 0;
  }

  /** Claims due notifications (each gets two minutes before anyone may retry it). */
  async claimNotifications(now: number, limit: number, maxAttempts: number): Promise<R.Claimed[]> {
    const rows = await this.run('claim-notifications', [
      new Date(now).toISOString(),
      limit,
      maxAttempts,
    ]);
    return rows.map((r) => ({
      id: num(r['id']),
      url: String(r['url']),
      kind: String(r['kind']),
      payload: r['payload'],
      attempts: num(r['attempts']),
    }));
  }

  /**
   * Records a delivery (`deliveredAt`) or a failed attempt (`error`, `retryAt`) of a claim; false
   * when the claim no longer holds (claimed again since, or delivered): nothing is recorded then.
   */
  async finishNotification(
    claim: Pick<R.Claimed, 'id' | 'attempts'>,
    outcome: { deliveredAt: number } | { error: string; retryAt: number },
  ): Promise<boolean> {
    const delivered = 'deliveredAt' in outcome ? new Date(outcome.deliveredAt).toISOString() : null;
    const error = 'error' in outcome ? outcome.error.slice(0, 500) : null;
    const retry = 'retryAt' in outcome ? new Date(outcome.retryAt).toISOString() : null;
    const params = [claim.id, delivered, error, retry, claim.attempts];
    return (await this.run('finish-notification', params)).length > 0;
  }
}
