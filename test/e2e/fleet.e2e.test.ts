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
import { type ApiRun, Fleet, sleep } from './fleet.js';

const MiB = 1024 * 1024;
const VMS = ['f1', 'f2', 'f3'];

const ok = (runs: ApiRun[], vm: string) =>
  runs.filter((r) => r.domainName === vm && r.status === 'succeeded');

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
    const first = await fleet.waitRuns('three scheduled fulls', (runs) =>
      VMS.every((vm) => ok(runs, vm).length >= 1),
    );
    // the schedule has done its part: once a year from now on
    await fleet.fleet(...policyArgs('0 3 1 1 *'));
    for (const vm of VMS) {
      const r = ok(first, vm)[0] as ApiRun;
      assert.equal(r.finalLevel, 'full', `${vm}: ${r.finalLevel}`);
      assert.ok(r.reasons.includes('NO_PARENT'), r.reasons.join(','));
      assert.equal(r.trigger, 'schedule');
      assert.equal(r.policy, 'nightly');
      await remember(first, vm);
    }
    await sleep(2000);
    const before = (await fleet.runs()).length;
    for (const vm of VMS) {
      await lab.write(vm, 'vda', 32 * MiB, 4 * MiB, { randomSeed: `${vm}-1` });
    }
    await fleet.fleet('run', '--policy', 'nightly');
    const second = await fleet.waitRuns('three manual incrementals', (runs) =>
      VMS.every((vm) => ok(runs, vm).length >= 2),
    );
    assert.equal(second.length, before + 3, 'one run per VM, none doubled');
    for (const vm of VMS) {
      const r = ok(second, vm)[1] as ApiRun;
      assert.equal(r.finalLevel, 'incremental', `${vm}: ${r.reasons.join(',')}`);
      assert.equal(r.trigger, 'manual');
      await assertRestores(vm, await remember(second, vm));
      await assertRestores(vm, ok(second, vm)[0]?.snapshotId as string);
    }
  });

  it('a live migration a → b: the next run goes to b, incremental after a redefine', async () => {
    await lab.migrate('f1', 'a', 'b', 'live');
    await lab.write('f1', 'vda', 64 * MiB, 2 * MiB, { randomSeed: 'f1-2' });
    await fleet.fleet('run', '--domain', 'f1');
    const runs = await fleet.waitRuns('f1 on b', (rs) => ok(rs, 'f1').length >= 3);
    const r = ok(runs, 'f1')[2] as ApiRun;
    assert.equal(r.host, 'b');
    assert.equal(r.finalLevel, 'incremental', r.reasons.join(','));
    assert.ok(r.reasons.includes('CHECKPOINT_REDEFINED'), r.reasons.join(','));
    assert.ok(r.reasons.includes('DOMAIN_MIGRATED'), r.reasons.join(','));
    await assertRestores('f1', await remember(runs, 'f1'));
  });

  it('a cold move a → b: the same', async () => {
    await lab.migrate('f2', 'a', 'b', 'cold');
    await lab.write('f2', 'vda', 64 * MiB, 2 * MiB, { randomSeed: 'f2-2' });
    await fleet.fleet('run', '--domain', 'f2');
    const runs = await fleet.waitRuns('f2 on b', (rs) => ok(rs, 'f2').length >= 3);
    const r = ok(runs, 'f2')[2] as ApiRun;
    assert.equal(r.host, 'b');
    assert.equal(r.finalLevel, 'incremental', r.reasons.join(','));
    assert.ok(r.reasons.includes('CHECKPOINT_REDEFINED'), r.reasons.join(','));
    assert.ok(r.reasons.includes('DOMAIN_MIGRATED'), r.reasons.join(','));
    await assertRestores('f2', await remember(runs, 'f2'));
  });

  it('qemu killed with SIGKILL: a full with the bitmap reason, then incremental; no run fails', async () => {
    await lab.killQemu('f3');
    await virsh(lab, 'b', 'start', 'f3');
    await lab.write('f3', 'vda', 96 * MiB, 2 * MiB, { randomSeed: 'f3-2' });
    await fleet.fleet('run', '--domain', 'f3');
    let runs = await fleet.waitRuns('f3 full', (rs) => ok(rs, 'f3').length >= 3);
    const full = ok(runs, 'f3')[2] as ApiRun;
    assert.equal(full.finalLevel, 'full');
    assert.ok(
      full.reasons.includes('BITMAP_INCONSISTENT') || full.reasons.includes('BITMAP_MISSING'),
      full.reasons.join(','),
    );
    await assertRestores('f3', await remember(runs, 'f3'));
    await lab.write('f3', 'vda', 100 * MiB, MiB, { randomSeed: 'f3-3' });
    await fleet.fleet('run', '--domain', 'f3');
    runs = await fleet.waitRuns('f3 incremental', (rs) => ok(rs, 'f3').length >= 4);
    assert.equal(ok(runs, 'f3')[3]?.finalLevel, 'incremental');
    assert.equal(runs.filter((x) => x.domainName === 'f3' && x.status === 'failed').length, 0);
  });

  it('per-host limit 1 with three VMs on b: never two backups at once there', async () => {
    const addr = (
      await fleet.fleet<{ hosts: { name: string; address: string }[] }>('hosts')
    ).hosts.find((h) => h.name === 'b')?.address as string;
    await fleet.fleet('hosts', 'add', 'b', addr, '--max-concurrent', '1');
    const before = await fleet.runs();
    await fleet.fleet('run', '--policy', 'nightly');
    const runs = await fleet.waitRuns('three runs on b', (rs) =>
      VMS.every((vm) => ok(rs, vm).length > ok(before, vm).length),
    );
    const fresh = runs.filter((r) => !before.some((b) => b.id === r.id));
    assert.equal(fresh.length, 3);
    assert.ok(fresh.every((r) => r.host === 'b'));
    const spans = fresh
      .map((r) => [r.startedAt, r.finishedAt ?? Infinity] as const)
      .sort((x, y) => x[0] - y[0]);
    for (let i = 1; i < spans.length; i++) {
      assert.ok(
        (spans[i]?.[0] ?? 0) >= (spans[i - 1]?.[1] ?? 0),
        `runs overlap: ${JSON.stringify(spans)}`,
      );
    }
    await fleet.fleet('hosts', 'add', 'b', addr, '--max-concurrent', '2');
  });

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
    await fleet.waitRuns(
      'f2 running',
      (rs) =>
        rs.some(
          (r) =>
            r.domainName === 'f2' && r.status === 'running' && !before.some((b) => b.id === r.id),
        ),
      60_000,
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
        /^AGENT_(UNAVAILABLE|CANCELLED|TIMEOUT)$|^BACKUP_CANCELLED$|^RUN_ABANDONED$/,
        JSON.stringify(f),
      );
    }
    assert.equal(mine.at(-1)?.status, 'succeeded');
    await noJob('f2', 'b');
    await assertRestores('f2', await remember(runs, 'f2'));
  });
});
