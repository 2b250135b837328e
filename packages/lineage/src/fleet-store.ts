/**
 * `FleetStore`: the controller's fleet tables (hosts, inventory, policies, tagged runs) on
 * Postgres, one SQL file per operation under `sql/fleet/`. Same connection style as
 * `PgLineageStore`: open with `connect`, finish with `close`; migrations run on connect.
 */

import type postgres from 'postgres';
import { type Sql, type TransactionSql } from 'postgres';

import { LineageError } from './errors.js';
import {
  type DomainRow,
  type FleetRunRow,
  type HostRow,
  type MoveRow,
  type PolicyRow,
  toDomain,
  toFleetRun,
  toHost,
  toMove,
  toPolicy,
} from './fleet-rows.js';
import {
  type DomainMove,
  type FleetDomain,
  type FleetHost,
  type FleetPolicy,
  type FleetRun,
  type HostConfig,
  type HostContact,
  type InventoryEntry,
  type PolicySelector,
  type RunFilter,
  type RunTag,
  type StoredPolicy,
  globToRegExpSource,
} from './fleet-types.js';
import { openMigrated } from './pg-open.js';
import { loadSqlDir } from './sql-dir.js';

const FLEET_QUERIES = [
  'upsert-host',
  'touch-host',
  'release-host-domains',
  'delete-host',
  'set-host-status',
  'select-hosts',
  'upsert-inventory-domain',
  'mark-gone-domains',
  'insert-domain-migration',
  'select-domain-migrations',
  'select-domains',
  'upsert-policy',
  'select-policies',
  'delete-policy',
  'tag-run',
  'select-fleet-runs',
] as const;
type FleetQuery = (typeof FLEET_QUERIES)[number];
type Tx = Sql | TransactionSql;

/** Default and largest page of `listRuns`. */
const RUNS_DEFAULT_LIMIT = 100;
const RUNS_MAX_LIMIT = 10_000;

function loadFleetQueries(): Promise<Readonly<Record<FleetQuery, string>>> {
  return loadSqlDir('fleet', FLEET_QUERIES);
}

/** Fleet tables on Postgres. */
export class FleetStore {
  #closed = false;

  private constructor(
    private readonly sql: Sql,
    private readonly q: Readonly<Record<FleetQuery, string>>,
  ) {}

  /** Connects and applies pending migrations. */
  static async connect(options: { url: string; max?: number }): Promise<FleetStore> {
    const q = await loadFleetQueries();
    const sql = await openMigrated(options.url, options.max ?? 4, 'fleet');
    return new FleetStore(sql, q);
  }

  /** Closes the pool; idempotent. */
  async close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      await this.sql.end({ timeout: 5 });
    }
  }

  private async run<T extends object>(tx: Tx, name: FleetQuery, params: unknown[]): Promise<T[]> {
    if (this.#closed) {
      throw new LineageError('CLOSED', 'fleet store is closed');
    }
    try {
      return await tx.unsafe<T[]>(this.q[name], params as postgres.ParameterOrJSON<never>[]);
    } catch (e) {
      throw new LineageError('QUERY_FAILED', `fleet/${name} failed: ${String(e)}`, { cause: e });
    }
  }

  private tx<T>(fn: (tx: TransactionSql) => Promise<T>): Promise<T> {
    if (this.#closed) {
      return Promise.reject(new LineageError('CLOSED', 'fleet store is closed'));
    }
    return this.sql.begin(fn) as Promise<T>;
  }

  /** Adds or reconfigures a host. */
  async upsertHost(h: HostConfig, at: number): Promise<void> {
    const params = [h.name, new Date(at), h.address, h.maxConcurrent, h.enabled];
    await this.run(this.sql, 'upsert-host', params);
  }

  /** Removes a host; its domains keep their history without a current host. */
  removeHost(name: string): Promise<boolean> {
    return this.tx(async (tx) => {
      await this.run(tx, 'release-host-domains', [name]);
      return (await this.run(tx, 'delete-host', [name])).length > 0;
    });
  }

  /** Records one contact with a host's agent. */
  async setHostStatus(c: HostContact): Promise<void> {
    const params = [c.name, c.state, c.agentVersion, c.error, new Date(c.at)];
    await this.run(this.sql, 'set-host-status', params);
  }

  /** Every host, by name. */
  async listHosts(): Promise<FleetHost[]> {
    return (await this.run<HostRow>(this.sql, 'select-hosts', [null])).map(toHost);
  }

  /** One host, or null. */
  async getHost(name: string): Promise<FleetHost | null> {
    const [r] = await this.run<HostRow>(this.sql, 'select-hosts', [name]);
    return r === undefined ? null : toHost(r);
  }

  /**
   * Records what a host's agent reports: every listed domain now has this host as its current
   * host. A domain whose current host was another one is a migration, recorded (table and event)
   * and returned. Domains missing from a `complete` list (the host's whole inventory) whose
   * current host this is are marked gone (`goneAt`): undefined, or a transient domain that ended
   * (one that moved away too, until its new host lists it: that clears the mark). A host no longer
   * configured (removed meanwhile) records nothing: its inventory must not bring it or its
   * domains back.
   */
  recordInventory(
    host: string,
    domains: readonly InventoryEntry[],
    at: number,
    detectedBy = 'inventory',
    complete = true,
  ): Promise<DomainMove[]> {
    const when = new Date(at);
    return this.tx(async (tx) => {
      const moves: DomainMove[] = [];
      if ((await this.run(tx, 'touch-host', [host, when])).length === 0) {
        return moves;
      }
      for (const d of domains) {
        const params = [d.uuid, d.name, host, when, JSON.stringify(d.tags), d.state, d.transient];
        const [row] = await this.run<{ previous_host: string | null }>(
          tx,
          'upsert-inventory-domain',
          params,
        );
        const prev = row?.previous_host ?? null;
        if (prev !== null && prev !== host) {
          await this.run(tx, 'insert-domain-migration', [d.uuid, prev, host, when, detectedBy]);
          moves.push({ domainUuid: d.uuid, from: prev, to: host, at, detectedBy });
        }
      }
      if (complete) {
        await this.run(tx, 'mark-gone-domains', [
          host,
          when,
          JSON.stringify(domains.map((d) => d.uuid)),
        ]);
      }
      return moves;
    });
  }

  /** Recorded migrations, oldest first (of one domain when given). */
  async listMoves(domainUuid?: string): Promise<DomainMove[]> {
    const rows = await this.run<MoveRow>(this.sql, 'select-domain-migrations', [
      domainUuid ?? null,
    ]);
    return rows.map(toMove);
  }

  /** Domains by name, optionally of one host. */
  async listDomains(filter: { host?: string } = {}): Promise<FleetDomain[]> {
    const rows = await this.run<DomainRow>(this.sql, 'select-domains', [
      filter.host ?? null,
      null,
      null,
      null,
    ]);
    return rows.map(toDomain);
  }

  /** One domain by UUID or name (the first by name when names repeat), or null. */
  async getDomain(uuidOrName: string): Promise<FleetDomain | null> {
    const params = [null, null, null, uuidOrName];
    const [r] = await this.run<DomainRow>(this.sql, 'select-domains', params);
    return r === undefined ? null : toDomain(r);
  }

  /** Domains a selector matches (see `matchesSelector`), by name. */
  async selectDomains(selector: PolicySelector): Promise<FleetDomain[]> {
    const glob = selector.nameGlob === undefined ? null : globToRegExpSource(selector.nameGlob);
    const params = [selector.host ?? null, glob, selector.tag ?? null, null];
    return (await this.run<DomainRow>(this.sql, 'select-domains', params)).map(toDomain);
  }

  /** Adds or replaces a policy. */
  async upsertPolicy(p: FleetPolicy, at: number): Promise<void> {
    const retention = p.retention === null ? null : JSON.stringify(p.retention);
    await this.run(this.sql, 'upsert-policy', [
      p.name,
      JSON.stringify(p.selector),
      p.cron,
      p.timeZone,
      JSON.stringify(p.level),
      retention,
      p.repository,
      p.enabled,
      new Date(at),
      p.rpoHours == null ? null : Math.round(p.rpoHours * 3600),
      JSON.stringify(p.notify ?? { webhooks: [], events: [] }),
    ]);
  }

  /** Every policy, by name. */
  async listPolicies(): Promise<StoredPolicy[]> {
    return (await this.run<PolicyRow>(this.sql, 'select-policies', [null])).map(toPolicy);
  }

  /** One policy, or null. */
  async getPolicy(name: string): Promise<StoredPolicy | null> {
    const [r] = await this.run<PolicyRow>(this.sql, 'select-policies', [name]);
    return r === undefined ? null : toPolicy(r);
  }

  /** Deletes a policy; false when there was none. */
  async deletePolicy(name: string): Promise<boolean> {
    return (await this.run(this.sql, 'delete-policy', [name])).length > 0;
  }

  /** Records who asked for a run. */
  async tagRun(runId: string, tag: RunTag): Promise<void> {
    const params = [runId, tag.policy, tag.trigger, tag.jobId, tag.attempt];
    await this.run(this.sql, 'tag-run', params);
  }

  /** Runs matching the filter, newest first. */
  async listRuns(filter: RunFilter = {}): Promise<FleetRun[]> {
    const limit = Math.min(Math.max(1, filter.limit ?? RUNS_DEFAULT_LIMIT), RUNS_MAX_LIMIT);
    const date = (v: number | undefined): Date | null => (v === undefined ? null : new Date(v));
    const rows = await this.run<FleetRunRow>(this.sql, 'select-fleet-runs', [
      filter.host ?? null,
      filter.domain ?? null,
      filter.status ?? null,
      filter.policy ?? null,
      date(filter.since),
      date(filter.until),
      limit,
      null,
      filter.reason ?? null,
    ]);
    return rows.map(toFleetRun);
  }

  /** One run, or null. */
  async getRun(id: string): Promise<FleetRun | null> {
    const params = [null, null, null, null, null, null, 1, id, null];
    const [r] = await this.run<FleetRunRow>(this.sql, 'select-fleet-runs', params);
    return r === undefined ? null : toFleetRun(r);
  }
}
