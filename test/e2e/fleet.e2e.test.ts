/**
 * The fleet end to end (issue 8): two lab hosts with a `virtvault agent` each, `virtvault
 * controller` replicas on the lab's Postgres and Redis, operated with `virtvault fleet`. Scheduled
 * and manual runs, live and cold migrations, a killed QEMU, a per-host limit, a replica killed
 * mid-backup, an agent stopped mid-run; then the report (issue 9) checked against what happened.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { Lab } from '../lab/index.js';

import { assertIdentical, copyDisks, freshVm, Standalone, virsh } from './cli.js';
import { checkDashboard } from './dashboard-browser.js';
import { type ApiRun, Fleet, sleep } from './fleet.js';
import { type Summary, fetchMetrics, fresh, nextOk, ok, settle } from './fleet-runs.js';
import { sampleValue } from './prom-parse.js';

const MiB = 1024 * 1024;
const VMS = ['f1', 'f2', 'f3'];

describe('the fleet: agents, controller replicas, virtvault fleet', () => {
  const lab = new Lab();
  const fleet = new Fleet(lab);
  const restorer = new Standalone(lab);
  /** Raw copies of each VM's disk at its latest snapshot, by snapshot id. */
  const copies = new Map<string, string>();

  const policyArgs = (cron: string, extra: string[] = []) => [
    'policies',
    'set',
    'nightly',
    '--name-glob',
    'f*',
    '--cron',
    cron,
    '--repository',
    'main',
    '--keep-last',
    '20',
    ...extra,
  ];

  /** Remembers the disk of `vm` as it is now under the id of its newest snapshot. */
  async function remember(runs: ApiRun[], vm: string): Promise<string> {
    const last = ok(runs, vm).at(-1);
    assert.ok(last?.snapshotId, `${vm} has a snapshot`);
    const c = await copyDisks(lab, vm, ['vda'], fleet.dir, last.snapshotId);
    copies.set(last.snapshotId, c.get('vda') as string);
    return last.snapshotId;
  }

  async function assertRestores(vm: string, snapshot: string): Promise<void> {
    restorer.dir = fleet.dir;
    const restored = await restorer.restore(vm, snapshot);
    await assertIdentical(restored.get('vda') as string, copies.get(snapshot) as string);
  }

  async function noJob(vm: string, host: string): Promise<void> {
    const info = await virsh(lab, host, 'domjobinfo', vm);
    assert.match(info, /Job type:\s+None/, `${vm} on ${host}: ${info}`);
  }

  before(async () => {
    await lab.up(['a', 'b']);
    await lab.servicesUp();
    await freshVm(lab, 'f1', { host: 'a', size: '256M' });
    await freshVm(lab, 'f2', { host: 'a', size: '256M' });
    await freshVm(lab, 'f3', { host: 'b', size: '256M' });
    for (const vm of VMS) {
      await lab.write(vm, 'vda', 0, 16 * MiB, { randomSeed: `${vm}-0` });
    }
    await fleet.setUp(['a', 'b']);
    await fleet.startController('r1', { a: 2, b: 2 });
  });

  after(async () => {
    await fleet.tearDown();
    for (const vm of VMS) {
      await lab.rmvm(vm);
    }
  });

  it('runs on schedule (full) and by hand (incremental); snapshots restore identical', async () => {
    const hosts = await fleet.fleet<{ hosts: { name: string; state: string }[] }>('hosts');
    assert.deepEqual(hosts.hosts.map((h) => h.name).sort(), ['a', 'b']);
    await fleet.fleet(...policyArgs('*/10 * * * * *'));
    await fleet.waitRuns('a scheduled fire', (runs) => runs.some((r) => r.trigger === 'schedule'));
    // The schedule has done its part: once a year from now on. Left at every 10 s, a slow
    // machine's fulls outlasted the next fires, whose jobs then waited out retries into the
    // manual runs below.
    await fleet.fleet(...policyArgs('0 3 1 1 *'));
    const first = await fleet.waitRuns('three scheduled fulls', (runs) =>
      VMS.every((vm) => ok(runs, vm).length >= 1),
    );
    for (const vm of VMS) {
      const r = ok(first, vm)[0] as ApiRun;
      const all = JSON.stringify(first.filter((x) => x.domainName === vm));
      assert.equal(r.finalLevel, 'full', `${vm}: ${all}`);
      assert.ok(r.reasons.includes('NO_PARENT'), r.reasons.join(','));
      assert.equal(r.trigger, 'schedule', all);
      assert.equal(r.policy, 'nightly');
      await remember(first, vm);
    }
    const before = await settle(fleet);
    for (const vm of VMS) {
      await lab.write(vm, 'vda', 32 * MiB, 4 * MiB, { randomSeed: `${vm}-1` });
    }
    await fleet.fleet('run', '--policy', 'nightly');
    const second = await fleet.waitRuns('three manual incrementals', (runs) =>
      VMS.every((vm) => fresh(before, runs, vm).some((r) => r.status === 'succeeded')),
    );
    for (const vm of VMS) {
      const mine = fresh(before, second, vm);
      assert.equal(mine.length, 1, `one run per VM, none doubled: ${JSON.stringify(mine)}`);
      const r = mine[0] as ApiRun;
      assert.equal(r.finalLevel, 'incremental', `${vm}: ${r.reasons.join(',')}`);
      assert.equal(r.trigger, 'manual');
      await assertRestores(vm, await remember(second, vm));
      await assertRestores(vm, ok(second, vm)[0]?.snapshotId as string);
    }
  });

  it('a live migration a → b: the next run goes to b, incremental after a redefine', async () => {
    await lab.migrate('f1', 'a', 'b', 'live');
    await lab.write('f1', 'vda', 64 * MiB, 2 * MiB, { randomSeed: 'f1-2' });
    const before = await fleet.runs();
    await fleet.fleet('run', '--domain', 'f1');
    const { run: r, runs } = await nextOk(fleet, before, 'f1', 'f1 on b');
    assert.equal(r.host, 'b');
    assert.equal(r.finalLevel, 'incremental', r.reasons.join(','));
    assert.ok(r.reasons.includes('CHECKPOINT_REDEFINED'), r.reasons.join(','));
    assert.ok(r.reasons.includes('DOMAIN_MIGRATED'), r.reasons.join(','));
    await assertRestores('f1', await remember(runs, 'f1'));
  });

  it('a cold move a → b: the same', async () => {
    await lab.migrate('f2', 'a', 'b', 'cold');
    await lab.write('f2', 'vda', 64 * MiB, 2 * MiB, { randomSeed: 'f2-2' });
    const before = await fleet.runs();
    await fleet.fleet('run', '--domain', 'f2');
    const { run: r, runs } = await nextOk(fleet, before, 'f2', 'f2 on b');
    assert.equal(r.host, 'b');
    assert.equal(r.finalLevel, 'incremental', r.reasons.join(','));
    assert.ok(r.reasons.includes('CHECKPOINT_REDEFINED'), r.reasons.join(','));
    assert.ok(r.reasons.includes('DOMAIN_MIGRATED'), r.reasons.join(','));
    await assertRestores('f2', await remember(runs, 'f2'));
  });

  it('qemu killed with SIGKILL: a full with the bitmap reason, then incremental; no run fails', async () => {
    await lab.killQemu('f1');
    await virsh(lab, 'b', 'start', 'f1');
    await lab.write('f1', 'vda', 96 * MiB, 2 * MiB, { randomSeed: 'f1-3' });
    let before = await fleet.runs();
    await fleet.fleet('run', '--domain', 'f1');
    let next = await nextOk(fleet, before, 'f1', 'f1 full');
    assert.equal(next.run.finalLevel, 'full');
    assert.ok(
      next.run.reasons.includes('BITMAP_INCONSISTENT') ||
        next.run.reasons.includes('BITMAP_MISSING'),
      next.run.reasons.join(','),
    );
    assert.equal(fresh(before, next.runs, 'f1').filter((x) => x.status === 'failed').length, 0);
    await assertRestores('f1', await remember(next.runs, 'f1'));
    await lab.write('f1', 'vda', 100 * MiB, MiB, { randomSeed: 'f1-4' });
    before = next.runs;
    await fleet.fleet('run', '--domain', 'f1');
    next = await nextOk(fleet, before, 'f1', 'f1 incremental');
    assert.equal(next.run.finalLevel, 'incremental', next.run.reasons.join(','));
    assert.equal(fresh(before, next.runs, 'f1').filter((x) => x.status === 'failed').length, 0);
  });

  it('per-host limit 1 with three VMs on b: never two backups at once there', async () => {
    const addr = (
      await fleet.fleet<{ hosts: { name: string; address: string }[] }>('hosts')
    ).hosts.find((h) => h.name === 'b')?.address as string;
    await fleet.fleet('hosts', 'add', 'b', addr, '--max-concurrent', '1');
    try {
      await oneAtATimeOnB();
    } finally {
      await fleet.fleet('hosts', 'add', 'b', addr, '--max-concurrent', '2');
    }
  });

  /** Three runs on b under its limit of 1: all succeed, none overlapping another. */
  async function oneAtATimeOnB(): Promise<void> {
    const before = await fleet.runs();
    await fleet.fleet('run', '--policy', 'nightly');
    const runs = await fleet.waitRuns('three runs on b', (rs) =>
      VMS.every((vm) => fresh(before, rs, vm).some((r) => r.status === 'succeeded')),
    );
    const mine = VMS.flatMap((vm) => fresh(before, runs, vm));
    assert.equal(mine.length, 3);
    assert.ok(mine.every((r) => r.host === 'b'));
    const spans = mine
      .map((r) => [r.startedAt, r.finishedAt ?? Infinity] as const)
      .sort((x, y) => x[0] - y[0]);
    for (let i = 1; i < spans.length; i++) {
      assert.ok(
        (spans[i]?.[0] ?? 0) >= (spans[i - 1]?.[1] ?? 0),
        `runs overlap: ${JSON.stringify(spans)}`,
      );
    }
  }

  it('two replicas; the one running a backup is killed: taken over, recorded truthfully, no job left', async () => {
    await fleet.startController('r2', { a: 2, b: 2 });
    await lab.write('f1', 'vda', 0, 200 * MiB, { randomSeed: 'f1-big' });
    const before = await fleet.runs();
    const offsets = new Map<string, number>();
    for (const id of ['r1', 'r2']) {
      offsets.set(id, (await fleet.controllerLog(id)).length);
    }
    await fleet.fleet('run', '--domain', 'f1');
    let holder = '';
    for (let i = 0; i < 240 && holder === ''; i++) {
      for (const id of ['r1', 'r2']) {
        const log = (await fleet.controllerLog(id)).slice(offsets.get(id));
        if (log.includes('backup of f1 on b started')) {
          holder = id;
        }
      }
      await sleep(250);
    }
    assert.notEqual(holder, '', 'a replica started the backup');
    // the fleet commands go to the replica that survives
    await fleet.stopController(holder, 'SIGKILL');
    const runs = await fleet.waitRuns(
      'the taken-over backup',
      (rs) => ok(rs, 'f1').length > ok(before, 'f1').length,
      240_000,
    );
    const mine = runs.filter((r) => r.domainName === 'f1' && !before.some((b) => b.id === r.id));
    assert.equal(mine.filter((r) => r.status === 'succeeded').length, 1, JSON.stringify(mine));
    assert.ok(
      mine.every((r) => r.status !== 'running'),
      JSON.stringify(mine),
    );
    await noJob('f1', 'b');
    await assertRestores('f1', await remember(runs, 'f1'));
  });

  it('an agent stopped during a run: a clear error code, then a retry after it returns', async () => {
    await lab.write('f2', 'vda', 0, 200 * MiB, { randomSeed: 'f2-big' });
    const before = await fleet.runs();
    await fleet.fleet('run', '--domain', 'f2');
    // polled closely: an incremental of 200 MiB now takes ~1.5 s from start to commit
    await fleet.waitRuns(
      'f2 running',
      (rs) =>
        rs.some(
          (r) =>
            r.domainName === 'f2' && r.status === 'running' && !before.some((b) => b.id === r.id),
        ),
      60_000,
      50,
    );
    assert.equal(await fleet.stopAgent('b', 'SIGTERM'), 0, 'the agent exits cleanly');
    await sleep(1500);
    await fleet.startAgent('b');
    const runs = await fleet.waitRuns(
      'f2 retried',
      (rs) => ok(rs, 'f2').length > ok(before, 'f2').length,
      240_000,
    );
    const mine = runs.filter((r) => r.domainName === 'f2' && !before.some((b) => b.id === r.id));
    const failed = mine.filter((r) => r.status === 'failed' || r.status === 'abandoned');
    assert.ok(failed.length >= 1, JSON.stringify(mine));
    for (const f of failed) {
      assert.match(
        f.errorCode ?? '',
        /^AGENT_(UNAVAILABLE|CANCELLED|TIMEOUT|SHUTTING_DOWN)$|^RUN_ABANDONED$/,
        JSON.stringify(f),
      );
    }
    assert.equal(mine.at(-1)?.status, 'succeeded');
    await noJob('f2', 'b');
    await assertRestores('f2', await remember(runs, 'f2'));
  });

  it('the report matches what happened: API, /metrics, webhooks, the dashboard', async () => {
    const runs = await settle(fleet);
    const count = (pred: (r: ApiRun) => boolean) => runs.filter(pred).length;
    const { summary } = await fleet.api<{ summary: Summary }>('/api/v1/summary?since=1d');
    type Vm = {
      uuid: string;
      name: string;
      currentHost: string;
      lastSnapshot: { id: string } | null;
      rpo: string;
      policies: string[];
    };
    const { vms } = await fleet.api<{ vms: Vm[] }>('/api/v1/vms');
    // the lab hosts may hold other tests' domains: the inventory lists them too
    const tally = (list: Vm[]) => {
      const t: Record<string, number> = { ok: 0, 'at-risk': 0, violated: 0, never: 0 };
      for (const v of list) {
        t[v.rpo] = (t[v.rpo] ?? 0) + 1;
      }
      return t;
    };
    assert.deepEqual(summary.protection, tally(vms));
    assert.deepEqual(
      vms.filter((v) => VMS.includes(v.name)).map((v) => v.rpo),
      ['ok', 'ok', 'ok'],
    );
    for (const host of ['a', 'b']) {
      const days = summary.hostDays.filter((d) => d.host === host);
      const sum = (k: 'succeeded' | 'failed' | 'abandoned') => days.reduce((n, d) => n + d[k], 0);
      assert.equal(
        sum('succeeded'),
        count((r) => r.host === host && r.status === 'succeeded'),
        host,
      );
      assert.equal(
        sum('failed') + sum('abandoned'),
        count((r) => r.host === host && (r.status === 'failed' || r.status === 'abandoned')),
        host,
      );
    }
    const reason = (list: { reason: string; runs: number }[], code: string) =>
      list.find((x) => x.reason === code)?.runs ?? 0;
    const withReason = (code: string) => count((r) => r.reasons.includes(code));
    const breakCode = runs
      .find(
        (r) => r.domainName === 'f1' && r.finalLevel === 'full' && !r.reasons.includes('NO_PARENT'),
      )
      ?.reasons.find((c) => c.startsWith('BITMAP_')) as string;
    assert.ok(breakCode, 'the killed QEMU broke the chain');
    assert.equal(reason(summary.chainBreaks, breakCode), withReason(breakCode));
    const byReason = await fleet.fleet<{ runs: ApiRun[] }>('runs', '--reason', breakCode);
    assert.equal(byReason.runs.length, withReason(breakCode));
    assert.ok(byReason.runs.every((r) => r.domainName === 'f1'));
    assert.equal(
      reason(summary.repairs, 'CHECKPOINT_REDEFINED'),
      withReason('CHECKPOINT_REDEFINED'),
    );
    assert.ok(withReason('DOMAIN_MIGRATED') >= 2);
    const moved = summary.migrations.map((m) => `${m.name}:${m.fromHost ?? '?'}>${m.toHost}`);
    assert.ok(moved.includes('f1:a>b') && moved.includes('f2:a>b'), moved.join(' '));
    const main = summary.repositories.find((r) => r.repository === 'main');
    // Each succeeded run committed one snapshot. A snapshot the agent committed just before its
    // replica was killed (the replica never recorded it, its run was abandoned) is imported by the
    // next run's reconcile with no run of its own: at most one per run that did not succeed.
    const succeeded = count((r) => r.status === 'succeeded');
    const notOk = count((r) => r.status === 'failed' || r.status === 'abandoned');
    const snapshots = main?.snapshots ?? -1;
    assert.ok(
      snapshots >= succeeded && snapshots <= succeeded + notOk,
      `${snapshots} snapshots for ${succeeded} succeeded and ${notOk} failed or abandoned runs`,
    );
    for (const vm of VMS) {
      const v = vms.find((x) => x.name === vm);
      assert.equal(v?.currentHost, 'b');
      assert.deepEqual(v?.policies, ['nightly']);
      assert.equal(v?.lastSnapshot?.id, ok(runs, vm).at(-1)?.snapshotId);
    }

    // /metrics: the text format parses and carries the same figures. The job the killed replica
    // held stays active in the queue until BullMQ's stalled-job check releases its lock, which may
    // come after every run has settled: wait for the queue to drain first.
    const metrics = () => fetchMetrics(fleet);
    let families = await metrics();
    for (let i = 0; i < 60; i++) {
      if (sampleValue(families, 'virtvault_queue_depth', { host: 'b', state: 'active' }) === 0) {
        break;
      }
      await sleep(1000);
      families = await metrics();
    }
    assert.equal(sampleValue(families, 'virtvault_agent_up', { host: 'a' }), 1);
    assert.equal(sampleValue(families, 'virtvault_agent_up', { host: 'b' }), 1);
    assert.equal(
      sampleValue(families, 'virtvault_chain_breaks_total', { reason: breakCode }),
      withReason(breakCode),
    );
    assert.equal(
      sampleValue(families, 'virtvault_runs_total', { host: 'b', status: 'succeeded' }),
      count((r) => r.host === 'b' && r.status === 'succeeded'),
    );
    const f1Last = ok(runs, 'f1').at(-1)?.finishedAt ?? 0;
    assert.ok(
      sampleValue(families, 'virtvault_vm_last_success_timestamp_seconds', { vm: 'f1' }) > 0,
    );
    assert.ok(
      Math.abs(
        sampleValue(families, 'virtvault_vm_last_success_timestamp_seconds', { vm: 'f1' }) -
          f1Last / 1000,
      ) < 60,
    );
    assert.equal(sampleValue(families, 'virtvault_queue_depth', { host: 'b', state: 'active' }), 0);

    // webhooks: the chain break and the failed run; then an RPO violation once the RPO is tiny
    const kinds = () =>
      fleet.hooks.map(
        (h) =>
          `${String(h.body['kind'])}:${String((h.body['vm'] as { name?: string } | undefined)?.name)}`,
      );
    for (
      let i = 0;
      i < 30 && !(kinds().includes('chain-break:f1') && kinds().includes('run-failed:f2'));
      i++
    ) {
      await sleep(1000);
    }
    assert.ok(kinds().includes('chain-break:f1'), kinds().join(' '));
    assert.ok(kinds().includes('run-failed:f2'), kinds().join(' '));
    await fleet.fleet(...policyArgs('0 3 1 1 *'), '--rpo-hours', '0.003');
    const violated = () =>
      fleet.hooks
        .filter((h) => h.body['kind'] === 'rpo-violation')
        .filter((h) => (h.body['rpo'] as { status?: string } | undefined)?.status === 'violated')
        .map((h) => (h.body['vm'] as { name?: string } | undefined)?.name);
    for (let i = 0; i < 40 && !VMS.every((vm) => violated().includes(vm)); i++) {
      await sleep(1000);
    }
    assert.ok(
      VMS.every((vm) => violated().includes(vm)),
      kinds().join(' '),
    );
    const unprotected = await fleet.fleet<{ vms: { name: string }[] }>('vms', '--unprotected');
    const names = unprotected.vms.map((v) => v.name);
    assert.ok(
      VMS.every((vm) => names.includes(vm)),
      names.join(' '),
    );
    const now = (await fleet.api<{ vms: Vm[] }>('/api/v1/vms')).vms;

    // the dashboard, in a real Chromium
    await checkDashboard({
      baseUrl: fleet.url,
      token: fleet.token,
      artifactsDir: `${process.cwd()}/.test-results/artifacts/fleet-dashboard`,
      expect: {
        hosts: { a: 'up', b: 'up' },
        protection: tally(now) as Record<'ok' | 'at-risk' | 'violated' | 'never', number>,
        // by UUID: a short name like f1 also occurs in other VMs' UUIDs
        filter: { q: now.find((v) => v.name === 'f1')?.uuid ?? '', rpo: 'violated', rows: ['f1'] },
        sort: {
          column: 'name',
          ascending: now
            .map((v) => v.name)
            .sort((x, y) =>
              x.toLowerCase() < y.toLowerCase() ? -1 : x.toLowerCase() > y.toLowerCase() ? 1 : 0,
            ),
        },
        vm: {
          name: 'f1',
          minMarks: { full: 2, incremental: 2, break: 1, migration: 1, repair: 1 },
          breakCodes: [breakCode],
        },
      },
    });

    // every replica stops cleanly on SIGTERM
    for (const id of fleet.controllerIds) {
      assert.equal(await fleet.stopController(id, 'SIGTERM'), 0, `controller ${id} exit code`);
    }
  });
});
