import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';

import type { ReasonCode, SnapshotManifest } from '@virtvault/core';
import { FleetStore, PgLineageStore, ReportStore, TokenStore } from '@virtvault/lineage';
import { checkDashboard } from '@virtvault/testkit/dashboard-browser';
import { parsePrometheus, sampleValue } from '@virtvault/testkit/prom-parse';
import postgres from 'postgres';

import { dashboardRoutes } from '../dashboard/routes.js';
import type { FleetBackend } from '../http/routes.js';
import { HttpApi } from '../http/server.js';
import { Reporter } from '../report/reporter.js';

const SERVER =
  process.env['VV_TEST_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:55432/postgres';
/** `.test-results/artifacts/dashboard` at the repository root (this file is in dist/__tests__). */
const ARTIFACTS = fileURLToPath(
  new URL('../../../../.test-results/artifacts/dashboard/', import.meta.url),
);

const NOW = Date.UTC(2026, 0, 20, 12);
const MIN = 60_000;
const HOUR = 3_600_000;
const GIB = 1024 ** 3;
const REPO = 'repo-main';

/** Fixed UUIDs without the digit 1, so that the filter fragment `1` only matches names. */
const VM = {
  web1: { uuid: '2a000000-0000-4000-8000-000000000002', name: 'web1' },
  db1: { uuid: '3b000000-0000-4000-8000-000000000003', name: 'db1' },
  old1: { uuid: '4c000000-0000-4000-8000-000000000004', name: 'old1' },
  mail2: { uuid: '5d000000-0000-4000-8000-000000000005', name: 'mail2' },
  new3: { uuid: '6e000000-0000-4000-8000-000000000006', name: 'new3' },
} as const;
type VmName = keyof typeof VM;

/** The API's fleet routes are not under test here: the dashboard and the report are. */
class FleetBackendFake implements FleetBackend {
  addHost(h: { name: string; address: string }): Promise<unknown> {
    return Promise.resolve(h);
  }
  removeHost(): Promise<unknown> {
    return Promise.resolve(false);
  }
  listPolicies(): Promise<unknown> {
    return Promise.resolve([]);
  }
  upsertPolicy(p: unknown): Promise<unknown> {
    return Promise.resolve(p);
  }
  deletePolicy(): Promise<unknown> {
    return Promise.resolve(false);
  }
  runNow(): Promise<unknown> {
    return Promise.resolve([]);
  }
  listRuns(): Promise<unknown> {
    return Promise.resolve([]);
  }
  getRun(): Promise<unknown> {
    return Promise.resolve(null);
  }
}

/** A committed snapshot's manifest as the engine writes it (one 20 GiB disk). */
function manifest(
  vm: VmName,
  n: number,
  o: { host: string; at: number; parent: string | null; reasons: ReasonCode[] },
): SnapshotManifest {
  const d = VM[vm];
  const cp = `vv-${vm}-${String(n).padStart(4, '0')}`;
  return {
    format: 'virtvault-snapshot',
    version: 1,
    id: `${vm}-s${n}`,
    domain: { ...d },
    host: o.host,
    level: o.parent === null ? 'full' : 'incremental',
    reasons: [...o.reasons],
    checkpoint: { name: cp, xml: `<domaincheckpoint><name>${cp}</name></domaincheckpoint>` },
    parent: o.parent,
    domainXml: `<domain type="kvm"><name>${vm}</name><uuid>${d.uuid}</uuid></domain>`,
    disks: [
      {
        target: 'vda',
        source: `/var/lib/libvirt/images/${vm}.qcow2`,
        format: 'qcow2',
        virtualSize: 20 * GIB,
        index: 'vda.index',
        indexSha256: 'a'.repeat(64),
        bytesRead: o.parent === null ? 12 * GIB : GIB,
        bytesNew: o.parent === null ? 8 * GIB : GIB / 2,
      },
    ],
    startedAt: new Date(o.at - 10 * MIN).toISOString(),
    endedAt: new Date(o.at).toISOString(),
    toolVersion: '0.1.0',
  };
}

/**
 * Seeds the lineage through the stores the controller uses: web1 full on a, moved to b (the
 * inventory notices), an incremental that redefined its checkpoint, a failed run, then a full
 * forced by an inconsistent bitmap; db1 full and incremental; mail2 full; old1's last good
 * snapshot 3 days old (RPO violated); new3 inventoried but never backed up.
 */
async function seed(url: string): Promise<void> {
  const lineage = await PgLineageStore.connect({ url });
  const fleet = await FleetStore.connect({ url });
  try {
    const entry = (vm: VmName) => ({ ...VM[vm], state: 'running' as const, transient: false });
    const inv = (vm: VmName) => ({ ...entry(vm), tags: vm === 'db1' ? ['db'] : [] });
    await fleet.upsertHost(
      { name: 'a', address: '10.0.0.1:7443', maxConcurrent: 2, enabled: true },
      NOW - 5 * 86_400_000,
    );
    await fleet.upsertHost(
      { name: 'b', address: '10.0.0.2:7443', maxConcurrent: 2, enabled: true },
      NOW - 5 * 86_400_000,
    );
    await fleet.recordInventory(
      'a',
      ['web1', 'old1', 'mail2', 'new3'].map((v) => inv(v as VmName)),
      NOW - 11 * HOUR,
    );
    const good = async (
      vm: VmName,
      id: string,
      host: string,
      at: number,
      m: SnapshotManifest,
      planned = m.level,
    ) => {
      await lineage.beginRun(
        { id, repository: REPO, domain: { ...VM[vm] }, host, startedAt: at - 10 * MIN },
        HOUR,
      );
      await lineage.commitSnapshot({
        runId: id,
        repository: REPO,
        manifest: m,
        plannedLevel: planned,
        reasons: m.reasons as ReasonCode[],
        finishedAt: at,
      });
    };
    const w1 = manifest('web1', 1, {
      host: 'a',
      at: NOW - 10 * HOUR,
      parent: null,
      reasons: ['NO_PARENT'],
    });
    await good('web1', 'run-web1-1', 'a', NOW - 10 * HOUR, w1);
    // the move: host b's inventory now lists web1 (a domain_migrations row a → b)
    await fleet.recordInventory('b', [inv('web1'), inv('db1')], NOW - 8 * HOUR);
    const w2 = manifest('web1', 2, {
      host: 'b',
      at: NOW - 6 * HOUR,
      parent: w1.id,
      reasons: ['CHECKPOINT_REDEFINED', 'DOMAIN_MIGRATED'],
    });
    await good('web1', 'run-web1-2', 'b', NOW - 6 * HOUR, w2);
    await lineage.beginRun(
      {
        id: 'run-web1-3',
        repository: REPO,
        domain: { ...VM.web1 },
        host: 'b',
        startedAt: NOW - 4 * HOUR,
      },
      HOUR,
    );
    await lineage.failRun('run-web1-3', {
      errorCode: 'AGENT_UNAVAILABLE',
      message: 'agent b did not answer',
      plannedLevel: 'incremental',
      reasons: [],
      finishedAt: NOW - 4 * HOUR + 2 * MIN,
    });
    const w4 = manifest('web1', 4, {
      host: 'b',
      at: NOW - 2 * HOUR,
      parent: null,
      reasons: ['BITMAP_INCONSISTENT'],
    });
    await good('web1', 'run-web1-4', 'b', NOW - 2 * HOUR, w4, 'incremental');
    const d1 = manifest('db1', 1, {
      host: 'b',
      at: NOW - 5 * HOUR,
      parent: null,
      reasons: ['NO_PARENT'],
    });
    await good('db1', 'run-db1-1', 'b', NOW - 5 * HOUR, d1);
    const d2 = manifest('db1', 2, { host: 'b', at: NOW - HOUR, parent: d1.id, reasons: [] });
    await good('db1', 'run-db1-2', 'b', NOW - HOUR, d2);
    const m1 = manifest('mail2', 1, {
      host: 'a',
      at: NOW - 3 * HOUR,
      parent: null,
      reasons: ['NO_PARENT'],
    });
    await good('mail2', 'run-mail2-1', 'a', NOW - 3 * HOUR, m1);
    const o1 = manifest('old1', 1, {
      host: 'a',
      at: NOW - 72 * HOUR,
      parent: null,
      reasons: ['NO_PARENT'],
    });
    await good('old1', 'run-old1-1', 'a', NOW - 72 * HOUR, o1);
    await fleet.setHostStatus({
      name: 'a',
      state: 'up',
      agentVersion: '0.1.0',
      error: null,
      at: NOW - MIN,
    });
    await fleet.setHostStatus({
      name: 'b',
      state: 'down',
      agentVersion: '0.1.0',
      error: 'connect ECONNREFUSED 10.0.0.2:7443',
      at: NOW - MIN,
    });
  } finally {
    await fleet.close();
    await lineage.close();
  }
}

describe('dashboard in a real browser over a seeded lineage', () => {
  const dbName = `dash_test_${randomBytes(5).toString('hex')}`;
  const admin = postgres(SERVER, { max: 1, onnotice: () => undefined });
  let tokens: TokenStore;
  let reports: ReportStore;
  let api: HttpApi;
  let base: string;
  let token: string;

  before(async () => {
    await admin.unsafe(`create database ${dbName}`);
    const url = new URL(SERVER);
    url.pathname = `/${dbName}`;
    await seed(url.toString());
    tokens = await TokenStore.connect({ url: url.toString() });
    token = (await tokens.create({ name: 'ops', role: 'viewer', now: NOW - HOUR })).token;
    reports = await ReportStore.connect({ url: url.toString() });
    const reporter = new Reporter({
      store: reports,
      queueDepths: () => Promise.resolve([{ host: 'a', waiting: 2, active: 1, delayed: 0 }]),
      defaultRpoMs: 26 * HOUR,
      now: () => NOW,
    });
    api = new HttpApi({
      listen: '127.0.0.1:0',
      fleet: new FleetBackendFake(),
      report: reporter,
      tokens,
      now: () => NOW,
      extraRoutes: dashboardRoutes({ reporter, tokens, now: () => NOW }),
    });
    base = `http://${await api.start()}`;
  });
  after(async () => {
    await api?.stop();
    await tokens?.close();
    await reports?.close();
    await admin.unsafe(`drop database if exists ${dbName} with (force)`);
    await admin.end();
  });

  it('signs in, shows the fleet, filters and sorts VMs and draws web1 chain', async () => {
    const result = await checkDashboard({
      baseUrl: base,
      token,
      artifactsDir: ARTIFACTS,
      expect: {
        hosts: { a: 'up', b: 'down' },
        protection: { ok: 3, 'at-risk': 0, violated: 1, never: 1 },
        // `1` matches web1, db1 and old1; old1's violated RPO drops it
        filter: { q: '1', rpo: 'ok', rows: ['web1', 'db1'] },
        sort: { column: 'age', ascending: ['db1', 'web1', 'mail2', 'old1', 'new3'] },
        vm: {
          name: 'web1',
          minMarks: { full: 2, incremental: 1, break: 1, repair: 1, failed: 1, migration: 1 },
          breakCodes: ['BITMAP_INCONSISTENT'],
        },
      },
    });
    for (const shot of Object.values(result.screenshots)) {
      assert.ok((await stat(shot)).size > 10_000, `${shot} is a real picture`);
    }
  });

  it('agrees with the JSON API on protection', async () => {
    const res = await fetch(`${base}/api/v1/summary?since=7d`, {
      headers: { authorization: `Bearer ${token}` },
    });
    const body = (await res.json()) as { summary: { protection: Record<string, number> } };
    assert.deepEqual(body.summary.protection, { ok: 3, 'at-risk': 0, violated: 1, never: 1 });
  });

  it('serves /metrics as well-formed Prometheus text with the seeded figures', async () => {
    assert.equal((await fetch(`${base}/metrics`)).status, 401, 'no token, no metrics');
    // another method on the path is refused as such (405, Allow), not as a path unknown (404)
    const posted = await fetch(`${base}/metrics`, { method: 'POST' });
    assert.equal(posted.status, 405);
    assert.match(posted.headers.get('allow') ?? '', /GET/);
    const res = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const m = parsePrometheus(await res.text());
    assert.equal(m.get('virtvault_vm_rpo_violated')?.type, 'gauge');
    assert.equal(m.get('virtvault_runs_total')?.type, 'counter');
    assert.equal(sampleValue(m, 'virtvault_vm_rpo_violated', { vm: 'old1', host: 'a' }), 1);
    assert.equal(sampleValue(m, 'virtvault_vm_rpo_violated', { vm: 'new3' }), 1);
    assert.equal(sampleValue(m, 'virtvault_vm_rpo_violated', { vm: 'web1', host: 'b' }), 0);
    assert.equal(sampleValue(m, 'virtvault_vms', { rpo: 'ok' }), 3);
    assert.equal(sampleValue(m, 'virtvault_vm_chain_length', { vm: 'db1' }), 2);
    assert.equal(
      sampleValue(m, 'virtvault_vm_last_success_timestamp_seconds', { vm: 'web1' }),
      (NOW - 2 * HOUR) / 1000,
    );
    assert.equal(
      sampleValue(m, 'virtvault_chain_breaks_total', { reason: 'BITMAP_INCONSISTENT' }),
      1,
    );
    assert.equal(sampleValue(m, 'virtvault_fallbacks_total', { reason: 'NO_PARENT' }), 4);
    assert.equal(sampleValue(m, 'virtvault_runs_total', { host: 'b', status: 'failed' }), 1);
    assert.equal(sampleValue(m, 'virtvault_runs_total', { host: 'b', status: 'succeeded' }), 4);
    assert.equal(sampleValue(m, 'virtvault_run_bytes_read_total', { host: 'a' }), 36 * GIB);
    assert.equal(sampleValue(m, 'virtvault_queue_depth', { host: 'a', state: 'waiting' }), 2);
    assert.equal(sampleValue(m, 'virtvault_agent_up', { host: 'a' }), 1);
    assert.equal(sampleValue(m, 'virtvault_agent_up', { host: 'b' }), 0);
  });
});
