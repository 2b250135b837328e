/**
 * `PgLineageStore`: core's `LineageStore` on Postgres via postgres.js, one SQL file per operation.
 * The same SQL runs on a Postgres server and on PGlite served over pglite-socket
 * (`openEmbeddedLineage`). The per-domain concurrency guard is a unique partial index on running
 * runs, so it holds on both (advisory locks are not real on pglite-socket).
 */
import type {
  CheckpointStateUpdate,
  DomainLineage,
  LineageEvent,
  LineageStore,
  ReconcileResult,
  RunFailure,
  RunStart,
  SnapshotCommit,
  SnapshotManifest,
  VerifyState,
  SnapshotStatus,
} from '@virtvault/core';
import postgres, { type Sql, type TransactionSql } from 'postgres';

import { LineageError } from './errors.js';
import { migrate } from './migrate.js';
import {
  type CheckpointRow,
  type EventRow,
  type RunRow,
  type SnapshotRow,
  toCheckpoint,
  toSnapshot,
} from './rows.js';
import { type Queries, type QueryName, loadQueries } from './sql-files.js';
import { INSERT_SNAPSHOT_AT, manifestStatements, type Statement } from './write-manifest.js';

/** Connection options. */
export interface PgLineageStoreOptions {
  /** Postgres URL, e.g. `postgres://user@host:5432/db`. */
  url: string;
  /** Pool size; use 1 on pglite-socket. @default 4 */
  max?: number;
  /** Apply pending migrations on connect. @default true */
  migrate?: boolean;
  /** Connect timeout in seconds. @default 10 */
  connectTimeoutSec?: number;
}

type Tx = Sql | TransactionSql;

/** Lineage store on Postgres. Open with `connect`, finish with `close`. */
export class PgLineageStore implements LineageStore {
  #closed = false;

  private constructor(
    private readonly sql: Sql,
    private readonly q: Queries,
  ) {}

  /** Connects, checks connectivity and (by default) migrates. */
  static async connect(options: PgLineageStoreOptions): Promise<PgLineageStore> {
    const q = await loadQueries();
    const sql = postgres(options.url, {
      max: options.max ?? 4,
      connect_timeout: options.connectTimeoutSec ?? 10,
      // no SQL of ours sends or returns arrays: the catalog query that postgres.js makes on every
      // connection to parse them is one of the ~30 round trips a backup makes to its lineage
      fetch_types: false,
      onnotice: () => undefined,
    });
    try {
      if (options.migrate ?? true) {
        await migrate(sql, q);
      } else {
        await sql`select 1`;
      }
    } catch (e) {
      await sql.end({ timeout: 1 });
      if (e instanceof LineageError) {
        throw e;
      }
      throw new LineageError('CONNECT_FAILED', `cannot use lineage database: ${String(e)}`, {
        cause: e,
      });
    }
    return new PgLineageStore(sql, q);
  }

  /** Closes the pool; idempotent. */
  async close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      await this.sql.end({ timeout: 5 });
    }
  }

  /** Runs one query file. */
  private run<T extends object>(tx: Tx, name: QueryName, params: unknown[] = []): Promise<T[]> {
    if (this.#closed) {
      return Promise.reject(new LineageError('CLOSED', 'lineage store is closed'));
    }
    return tx.unsafe<T[]>(this.q[name], params as postgres.ParameterOrJSON<never>[]);
  }

  /**
   * Runs statements that need no earlier one's result as one pipeline: postgres.js writes each
   * query as it is started, in call order, without waiting for the previous answer, and the server
   * runs them in that order. A lineage round trip to the embedded database crosses threads twice,
   * and a backup made ~30 of them one after another; the first failure is the one thrown (the
   * statements after it fail with an aborted transaction, and are awaited too).
   */
  private pipeline(tx: Tx, statements: readonly Statement[]): Promise<object[][]> {
    return Promise.all(statements.map(([name, params]) => this.run(tx, name, params)));
  }

  /** Runs `fn` in a transaction. */
  private tx<T>(fn: (tx: TransactionSql) => Promise<T>): Promise<T> {
    if (this.#closed) {
      return Promise.reject(new LineageError('CLOSED', 'lineage store is closed'));
    }
    return this.sql.begin(fn) as Promise<T>;
  }

  /** {@inheritDoc LineageStore.beginRun} */
  beginRun(run: RunStart, staleAfterMs: number): Promise<string[]> {
    const at = new Date(run.startedAt);
    const uuid = run.domain.uuid;
    const cutoff = new Date(run.startedAt - staleAfterMs);
    return this.tx(async (tx) => {
      const [, domain, stale, ins] = (await this.pipeline(tx, [
        ['upsert-host', [run.host, at]],
        ['upsert-domain', [uuid, run.domain.name, run.host, at]],
        ['abandon-stale-runs', [uuid, cutoff, at]],
        ['insert-run', [run.id, uuid, run.repository, run.host, at]],
      ])) as [object[], { previous_host: string | null }[], { id: string }[], object[]];
      if (ins.length === 0) {
        throw new LineageError('ALREADY_RUNNING', `a run of domain ${uuid} is running`);
      }
      const prev = domain[0]?.previous_host;
      if (prev && prev !== run.host) {
        const message = `domain moved from ${prev} to ${run.host}`;
        await this.run(tx, 'insert-event', [at, uuid, run.id, 'domain-migrated', message]);
      }
      return stale.map((r) => r.id);
    });
  }

  /** {@inheritDoc LineageStore.heartbeat} */
  async heartbeat(runId: string, at: number): Promise<void> {
    await this.run(this.sql, 'heartbeat-run', [runId, new Date(at)]);
  }

  /** {@inheritDoc LineageStore.reconcile} */
  reconcile(
    repository: string,
    domainUuid: string,
    manifests: readonly SnapshotManifest[],
    at: number,
  ): Promise<ReconcileResult> {
    const present = JSON.stringify(manifests.map((m) => m.id));
    return this.tx(async (tx) => {
      // The marks touch only rows known before this call: an import adds a committed row whose
      // manifest is present, which neither mark would change, so all three go first, at once.
      const [known, gone, back] = (await this.pipeline(tx, [
        ['select-snapshot-ids', [repository, domainUuid]],
        ['mark-snapshots-missing', [repository, domainUuid, present]],
        ['mark-snapshots-found', [repository, domainUuid, present]],
      ])) as [{ id: string }[], { id: string }[], { id: string }[]];
      const have = new Set(known.map((r) => r.id));
      const imported: string[] = [];
      // One statement list per manifest instead of four queries each: a snapshot row comes with
      // its host, domain and checkpoint rows (one transaction, never deleted), so re-inserting a
      // known one is a no-op.
      for (const m of manifests) {
        if (have.has(m.id)) {
          continue;
        }
        const rows = await this.pipeline(tx, manifestStatements(repository, m, null, at));
        if ((rows[INSERT_SNAPSHOT_AT]?.length ?? 0) > 0) {
          imported.push(m.id);
        }
      }
      return { imported, missing: gone.map((r) => r.id), found: back.map((r) => r.id) };
    });
  }

  /** {@inheritDoc LineageStore.loadLineage} */
  async loadLineage(
    repository: string,
    domain: { uuid: string; name: string },
  ): Promise<DomainLineage> {
    if (this.#closed) {
      throw new LineageError('CLOSED', 'lineage store is closed');
    }
    // on one connection: a pool's idle connections are taken before busy ones are pipelined on,
    // so three queries at once on the pool would open up to three connections
    const conn = await this.sql.reserve();
    let rows: object[][];
    try {
      rows = await this.pipeline(conn, [
        ['select-domain', [domain.uuid]],
        ['select-snapshots', [repository, domain.uuid]],
        ['select-checkpoints', [domain.uuid]],
      ]);
    } finally {
      conn.release();
    }
    const [ds, snaps, cps] = rows as [
      { owner: string; current_host: string | null }[],
      SnapshotRow[],
      CheckpointRow[],
    ];
    const d = ds[0];
    return {
      repository,
      domain: { ...domain, currentHost: d?.current_host ?? null },
      snapshots: snaps.map(toSnapshot),
      checkpoints: cps.map(toCheckpoint),
      ...(d !== undefined ? { owner: d.owner } : {}),
    };
  }

  /** {@inheritDoc LineageStore.markCheckpoints} */
  async markCheckpoints(
    domainUuid: string,
    updates: readonly CheckpointStateUpdate[],
    at: number,
  ): Promise<void> {
    const when = new Date(at);
    await this.tx((tx) =>
      this.pipeline(
        tx,
        updates.map((u) => [
          'update-checkpoint-state',
          [domainUuid, u.checkpoint, u.state, u.reason, when],
        ]),
      ),
    );
  }

  /** {@inheritDoc LineageStore.commitSnapshot} */
  async commitSnapshot(c: SnapshotCommit): Promise<void> {
    const m = c.manifest;
    const at = new Date(c.finishedAt);
    const reasons = JSON.stringify(c.reasons);
    const statements: Statement[] = [
      ...manifestStatements(c.repository, m, c.runId, c.finishedAt),
      ...m.disks.map((d): Statement => {
        return ['upsert-disk', [m.domain.uuid, d.target, d.source, d.format, d.virtualSize, at]];
      }),
      ['succeed-run', [c.runId, c.plannedLevel, m.level, reasons, m.id, at]],
    ];
    await this.tx((tx) => this.pipeline(tx, statements));
  }

  /** {@inheritDoc LineageStore.failRun} */
  async failRun(runId: string, f: RunFailure): Promise<void> {
    const params = [
      runId,
      f.plannedLevel,
      JSON.stringify(f.reasons),
      f.errorCode,
      f.message,
      new Date(f.finishedAt),
    ];
    await this.run(this.sql, 'fail-run', params);
  }

  /** {@inheritDoc LineageStore.recordEvent} */
  async recordEvent(e: LineageEvent): Promise<void> {
    await this.run(this.sql, 'insert-event', [
      new Date(e.at),
      e.domainUuid,
      e.runId,
      e.kind,
      e.message,
    ]);
  }

  /** Records the result of verifying a snapshot (a failed one is never an incremental parent). */
  async setVerifyState(repository: string, snapshotId: string, state: VerifyState): Promise<void> {
    await this.run(this.sql, 'set-verify-state', [repository, snapshotId, state]);
  }

  /** Records a snapshot's status, e.g. `deleted` after prune. */
  async setSnapshotStatus(
    repository: string,
    snapshotId: string,
    status: SnapshotStatus,
  ): Promise<void> {
    await this.run(this.sql, 'set-snapshot-status', [repository, snapshotId, status]);
  }

  /** Runs of a domain, oldest first (reports, tests). */
  listRuns(domainUuid: string): Promise<RunRow[]> {
    return this.run<RunRow>(this.sql, 'select-runs', [domainUuid]);
  }

  /** Events of a domain, oldest first (reports, tests). */
  listEvents(domainUuid: string): Promise<EventRow[]> {
    return this.run<EventRow>(this.sql, 'select-events', [domainUuid]);
  }
}
