import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';

import { buildTimeline } from '@virtvault/core';
import postgres from 'postgres';

import { PgLineageStore } from '../pg-lineage-store.js';
import { ReportStore } from '../report-store.js';
import { manifest } from './lineage-contract.js';
import { createTestDatabase } from './test-db.js';

const T0 = Date.UTC(2025, 0, 15, 12);
const HOUR = 3_600_000;
const REPO = 'repo-contract';
const GIB = 1024 ** 3;

describe('ReportStore (Postgres)', () => {
  let db: { url: string; drop: () => Promise<void> };
  let lineage: PgLineageStore;
  let report: ReportStore;
  const vmA = randomUUID();
  const vmB = randomUUID();

  const run = async (uuid: string, id: string, at: number, host: string) => {
    await lineage.beginRun(
      {
        id,
        repository: REPO,
        domain: { uuid, name: `vm-${uuid.slice(0, 8)}` },
        host,
        startedAt: at,
      },
      HOUR,
    );
  };

  before(async () => {
    db = await createTestDatabase();
    lineage = await PgLineageStore.connect({ url: db.url });
    report = await ReportStore.connect({ url: db.url });
    // vm A: full on a, incremental on b after a move, a failed run, then a break (full) on b
    const s1 = manifest(vmA, 1, null, 'a');
    const s2 = {
      ...manifest(vmA, 2, s1.id, 'b'),
      reasons: ['CHECKPOINT_REDEFINED', 'DOMAIN_MIGRATED'],
    };
    const s4 = { ...manifest(vmA, 4, null, 'b'), reasons: ['BITMAP_INCONSISTENT'] };
    const commits = [
      [s1, 'r1', 'a'],
      [s2, 'r2', 'b'],
    ] as const;
    for (const [m, id, host] of commits) {
      await run(vmA, id, Date.parse(m.startedAt), host);
      const c = {
        runId: id,
        repository: REPO,
        manifest: m,
        plannedLevel: m.level,
        reasons: m.reasons,
      };
      await lineage.commitSnapshot({
        ...c,
        reasons: [...m.reasons] as never,
        finishedAt: Date.parse(m.endedAt),
      });
    }
    await run(vmA, 'r3', T0 + 3 * HOUR, 'b');
    await lineage.failRun('r3', {
      errorCode: 'AGENT_UNAVAILABLE',
      message: 'agent b did not answer',
      plannedLevel: 'incremental',
      reasons: [],
      finishedAt: T0 + 3 * HOUR + 5,
    });
    await run(vmA, 'r4', T0 + 4 * HOUR, 'b');
    await lineage.commitSnapshot({
      runId: 'r4',
      repository: REPO,
      manifest: s4,
      plannedLevel: 'incremental',
      reasons: ['BITMAP_INCONSISTENT'],
      finishedAt: T0 + 4 * HOUR,
    });
    // vm B: known, never backed up
    await run(vmB, 'r5', T0 + 5 * HOUR, 'a');
    await lineage.failRun('r5', {
      errorCode: 'DOMAIN_NOT_FOUND',
      message: 'gone',
      plannedLevel: null,
      reasons: [],
      finishedAt: T0 + 5 * HOUR,
    });
    const sql = postgres(db.url, { max: 1 });
    await sql`insert into domain_migrations (domain_uuid, from_host, to_host, at, detected_by)
              values (${vmA}, 'a', 'b', ${new Date(T0 + 1.5 * HOUR)}, 'inventory')`;
    await sql.end();
  });
  after(async () => {
    await report.close();
    await lineage.close();
    await db.drop();
  });

  it('reports each VM with its last good snapshot, last run and chain length', async () => {
    const vms = await report.vmStatus();
    const a = vms.find((v) => v.uuid === vmA);
    const b = vms.find((v) => v.uuid === vmB);
    assert.equal(a?.lastSnapshot?.level, 'full');
    assert.equal(a?.lastSnapshot?.endedAt, T0 + 4 * HOUR);
    assert.equal(a?.lastRun?.id, 'r4');
    assert.equal(a?.lastRun?.status, 'succeeded');
    assert.equal(a?.chainLength, 1, 'the break started a new chain');
    assert.equal(b?.lastSnapshot, null);
    assert.equal(b?.lastRun?.errorCode, 'DOMAIN_NOT_FOUND');
  });

  it('counts runs per host and day, repository figures and reasons', async () => {
    const days = await report.runsPerHostDay(T0 - HOUR);
    const hostB = days.find((d) => d.host === 'b');
    assert.deepEqual(
      { s: hostB?.succeeded, f: hostB?.failed, day: hostB?.day },
      { s: 2, f: 1, day: '2025-01-15' },
    );
    assert.equal(hostB?.bytesRead, 10 * GIB);
    const [repo] = await report.repositoryStats();
    assert.equal(repo?.snapshots, 3);
    assert.equal(repo?.logicalBytes, 30 * GIB);
    assert.equal(repo?.bytesNew, 12 * GIB);
    const reasons = await report.reasonCounts(T0 - HOUR);
    assert.equal(reasons.find((r) => r.reason === 'BITMAP_INCONSISTENT')?.runs, 1);
    assert.equal(reasons.find((r) => r.reason === 'DOMAIN_MIGRATED')?.runs, 1);
    const moves = await report.migrationsSince(T0);
    assert.deepEqual(
      moves.map((m) => [m.fromHost, m.toHost]),
      [['a', 'b']],
    );
  });

  it('gives the rows of a timeline showing the move, the failure and the break', async () => {
    const rows = await report.timelineRows(vmA);
    const t = buildTimeline(rows.snapshots, rows.failed, rows.migrations);
    assert.deepEqual(
      t.map((e) => e.kind),
      ['full', 'migration', 'repair', 'incremental', 'failed', 'break', 'full'],
    );
  });

  it('queues each notification once per webhook and hands it to one claimer', async () => {
    const n = {
      dedupeKey: 'rpo:x:1',
      url: 'http://127.0.0.1:1/hook',
      kind: 'rpo-violation' as const,
      domainUuid: vmA,
      payload: { a: 1 },
      at: T0,
    };
    assert.equal(await report.enqueueNotification(n), true);
    assert.equal(await report.enqueueNotification(n), false);
    const [first, second] = await Promise.all([
      report.claimNotifications(T0 + 1, 10, 5),
      report.claimNotifications(T0 + 1, 10, 5),
    ]);
    assert.equal((first?.length ?? 0) + (second?.length ?? 0), 1);
    const claimed = [...(first ?? []), ...(second ?? [])][0];
    assert.deepEqual(claimed?.payload, { a: 1 });
    const first1 = { id: claimed?.id ?? 0, attempts: claimed?.attempts ?? 0 };
    assert.equal(
      await report.finishNotification(first1, { error: 'refused', retryAt: T0 + 10 }),
      true,
    );
    assert.equal((await report.claimNotifications(T0 + 5, 10, 5)).length, 0, 'not before retryAt');
    const again = await report.claimNotifications(T0 + 11, 10, 5);
    assert.equal(again[0]?.attempts, 2);
    // that claim runs out (a replica stuck on a slow webhook); another takes it and delivers
    const stale = { id: again[0]?.id ?? 0, attempts: again[0]?.attempts ?? 0 };
    const taken = await report.claimNotifications(T0 + 11 + 121_000, 10, 5);
    assert.equal(taken[0]?.attempts, 3);
    const fresh = { id: taken[0]?.id ?? 0, attempts: 3 };
    assert.equal(await report.finishNotification(fresh, { deliveredAt: T0 + 11 + 122_000 }), true);
    // the stale claim's late failure changes nothing: still delivered, never sent again
    const late = { error: 'timeout', retryAt: T0 + 11 + 123_000 };
    assert.equal(await report.finishNotification(stale, late), false);
    assert.equal((await report.claimNotifications(T0 + 999_999_999, 10, 5)).length, 0);
  });
});
