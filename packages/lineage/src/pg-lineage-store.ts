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
  toUnconfirmed,
} from './rows.js';
import { type Queries, type QueryName, loadQueries } from './sql-files.js';
import { insertManifest } from './write-manifest.js';

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
    return this.tx(async (tx) => {
      if (run.unreached === true) {
        // the row the run needs, without moving the VM back to a host it may have left
        await this.run(tx, 'ensure-domain', [uuid, run.domain.name, at]);
      } else {
        await this.run(tx, 'upsert-host', [run.host, at]);
        // No `domain-migrated` event here: the run records it when its plan finds the move
        // (against the newest snapshot's host); a second one for the same move doubled the log.
        await this.run(tx, 'upsert-domain', [uuid, run.domain.name, run.host, at]);
      }
      const cutoff = new Date(run.startedAt - staleAfterMs);
      const stale = await this.run<{ id: string }>(tx, 'abandon-stale-runs', [uuid, cutoff, at]);
      const ins = await this.run<{ id: string }>(tx, 'insert-run', [
        run.id,
        uuid,
        run.repository,
        run.host,
        at,
        run.newCheckpoint ?? null,
      ]);
      if (ins.length === 0) {
        throw new LineageError('ALREADY_RUNNING', `a run of domain ${uuid} is running`);
      }
      return stale.map((r) => r.id);
    });
  }

  /** {@inheritDoc LineageStore.heartbeat} */
  async heartbeat(runId: string, at: number): Promise<boolean> {
    const rows = await this.run<{ id: string }>(this.sql, 'heartbeat-run', [runId, new Date(at)]);
    return rows.length > 0;
  }

  /** {@inheritDoc LineageStore.noteCheckpoint} */
  async noteCheckpoint(runId: string, checkpoint: string): Promise<void> {
    await this.run(this.sql, 'set-run-checkpoint', [runId, checkpoint]);
  }

  /** {@inheritDoc LineageStore.reconcile} */
  reconcile(
    repository: string,
    domainUuid: string,
    manifests: readonly SnapshotManifest[],
    at: number,
  ): Promise<ReconcileResult> {
    return this.tx(async (tx) => {
      // One query instead of four per manifest: a snapshot row comes with its host, domain and
      // checkpoint rows (one transaction, never deleted), so re-inserting a known one is a no-op.
      const known = await this.run<{ id: string }>(tx, 'select-snapshot-ids', [
        repository,
        domainUuid,
      ]);
      const have = new Set(known.map((r) => r.id));
      const imported: string[] = [];
      for (const m of manifests) {
        if (have.has(m.id)) {
          continue;
        }
        if (await insertManifest((n, p) => this.run(tx, n, p), repository, m, null, at)) {
          imported.push(m.id);
        }
      }
      const present = JSON.stringify(manifests.map((m) => m.id));
      const gone = await this.run<{ id: string }>(tx, 'mark-snapshots-missing', [
        repository,
        domainUuid,
        present,
      ]);
      const back = await this.run<{ id: string }>(tx, 'mark-snapshots-found', [
        repository,
        domainUuid,
        present,
      ]);
      return { imported, missing: gone.map((r) => r.id), found: back.map((r) => r.id) };
    });
  }

  /** {@inheritDoc LineageStore.loadLineage} */
  async loadLineage(
    repository: string,
    domain: { uuid: string; name: string },
  ): Promise<DomainLineage> {
    const [d] = await this.run<{ owner: string; current_host: string | null; unconfirmed: string }>(
      this.sql,
      'select-domain',
      [domain.uuid],
    );
    const snaps = await this.run<SnapshotRow>(this.sql, 'select-snapshots', [
      repository,
      domain.uuid,
    ]);
    const cps = await this.run<CheckpointRow>(this.sql, 'select-checkpoints', [domain.uuid]);
    return {
      repository,
      domain: { ...domain, currentHost: d?.current_host ?? null },
      snapshots: snaps.map(toSnapshot),
      checkpoints: cps.map(toCheckpoint),
      unconfirmed: d !== undefined ? toUnconfirmed(d.unconfirmed) : [],
      ...(d !== undefined ? { owner: d.owner } : {}),
    };
  }

  /** {@inheritDoc LineageStore.markCheckpoints} */
  async markCheckpoints(
    domainUuid: string,
    updates: readonly CheckpointStateUpdate[],
    at: number,
  ): Promise<void> {
    await this.tx(async (tx) => {
      for (const u of updates) {
        await this.run(tx, 'update-checkpoint-state', [
          domainUuid,
          u.checkpoint,
          u.state,
          u.reason,
          new Date(at),
        ]);
      }
    });
  }

  /** {@inheritDoc LineageStore.commitSnapshot} */
  async commitSnapshot(c: SnapshotCommit): Promise<void> {
    const m = c.manifest;
    await this.tx(async (tx) => {
      const exec = (n: QueryName, p: unknown[]): Promise<object[]> => this.run(tx, n, p);
      await insertManifest(exec, c.repository, m, c.runId, c.finishedAt);
      for (const d of m.disks) {
        await exec('upsert-disk', [
          m.domain.uuid,
          d.target,
          d.source,
          d.format,
          d.virtualSize,
          new Date(c.finishedAt),
        ]);
      }
      const reasons = JSON.stringify(c.reasons);
      await exec('succeed-run', [
        c.runId,
        c.plannedLevel,
        m.level,
        reasons,
        m.id,
        new Date(c.finishedAt),
      ]);
    });
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
