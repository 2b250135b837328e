import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';

import type { Controller } from '../controller.js';

import { FakeAgentWorld, type FakeVm } from './fake-agent.js';
import { type TestEnv, createTestEnv, policy, replica, testConfig, waitFor } from './harness.js';

const U = (n: number) => `20000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
const VMS: FakeVm[] = [1, 2, 3, 4].map((n) => ({
  uuid: U(n),
  name: `vm-${n}`,
  host: n <= 2 ? 'a' : 'b',
  tags: n <= 2 ? ['pair'] : ['kill'],
}));

let env: TestEnv;

before(async () => {
  env = await createTestEnv();
});
after(async () => {
  await env.cleanup();
});

function config(replicaId: string) {
  return testConfig(env, {
    replicaId,
    hosts: [
      { name: 'a', address: 'a:7443', maxConcurrentBackups: 2 },
      { name: 'b', address: 'b:7443', maxConcurrentBackups: 2 },
    ],
    policies: [
      policy('pair', { selector: { tag: 'pair' } }),
      policy('kill', { selector: { tag: 'kill' } }),
    ],
    timings: { retry: { attempts: 6, backoffSec: 0.5 } },
  });
}

async function started(id: string, world: FakeAgentWorld): Promise<Controller> {
  const c = replica(env, world, config(id));
  await c.start();
  return c;
}

describe('replicas', () => {
  it('two replicas on one Redis and Postgres back each VM up exactly once per fire', async () => {
    const world = new FakeAgentWorld(env.dir, { backupMs: 300, heartbeatMs: 100 });
    VMS.forEach((v) => world.place(v));
    const [r1, r2] = [await started('r1', world), await started('r2', world)];
    try {
      await waitFor('inventory', async () =>
        (await r1.fleet.listDomains()).length === 4 ? true : undefined,
      );
      const fire = Date.parse('2031-05-05T05:05:05Z');
      await Promise.all([r1.queues.enqueuePlan('pair', fire), r2.queues.enqueuePlan('pair', fire)]);
      const runs = await waitFor('two successful runs', async () => {
        const rs = await r1.service.listRuns({ policy: 'pair', status: 'succeeded' });
        return rs.length >= 2 ? rs : undefined;
      });
      await new Promise((r) => setTimeout(r, 1000));
      const all = await r2.service.listRuns({ policy: 'pair' });
      assert.equal(all.length, 2, 'one run per VM, no duplicates');
      assert.deepEqual(runs.map((r) => r.domainName).sort(), ['vm-1', 'vm-2']);
      assert.equal(world.backups.filter((b) => b.outcome === 'ok').length, 2);
    } finally {
      await Promise.all([r1.stop(), r2.stop()]);
    }
  });

  it('a replica stopped mid-run puts its jobs back: another runs them without an attempt spent', async () => {
    // backups far longer than the grace (5 s here): the stop cancels them
    const world = new FakeAgentWorld(env.dir, { backupMs: 60_000, heartbeatMs: 100 });
    VMS.forEach((v) => world.place(v));
    const r1 = await started('stopping', world);
    let r2: Controller | null = null;
    try {
      await waitFor('inventory', async () =>
        (await r1.fleet.listDomains()).length === 4 ? true : undefined,
      );
      const fire = Date.parse('2031-06-06T06:06:06Z');
      await r1.queues.enqueuePlan('pair', fire);
      await waitFor('both backups running', () =>
        Promise.resolve(world.backups.filter((b) => b.end === 0).length === 2 ? true : undefined),
      );
      const stopped = Date.now();
      await r1.stop();
      assert.ok(Date.now() - stopped < 15_000, 'stopped within the grace and a little');
      assert.deepEqual(
        world.backups.map((b) => b.outcome),
        ['cancelled', 'cancelled'],
      );
      world.behaviour.backupMs = 200;
      r2 = await started('after', world);
      const ctl = r2;
      const runs = await waitFor('both VMs backed up after the restart', async () => {
        const rs = await ctl.service.listRuns({ policy: 'pair', status: 'succeeded' });
        return rs.filter((r) => r.startedAt > stopped).length >= 2 ? rs : undefined;
      });
      // the cancelled attempt counted for nothing: the run that succeeded is the job's first
      const after = runs.filter((r) => r.startedAt > stopped);
      assert.deepEqual(
        after.map((r) => r.attempt),
        [1, 1],
      );
    } finally {
      await r1.stop();
      await r2?.stop();
    }
  });

  it('a replica killed mid-run: another takes the job over, the stale run is abandoned', async () => {
    const child = spawn(
      process.execPath,
      [
        new URL('./replica-child.js', import.meta.url).pathname,
        JSON.stringify({
          databaseUrl: env.databaseUrl,
          redisUrl: env.redisUrl,
          dir: env.dir,
          config: config('doomed'),
          vms: VMS,
          backupMs: 120_000,
          policy: 'kill',
        }),
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const exited = new Promise<NodeJS.Signals | null>((resolve) =>
      child.on('exit', (_c, sig) => resolve(sig)),
    );
    const world = new FakeAgentWorld(env.dir, { backupMs: 200, heartbeatMs: 100 });
    VMS.forEach((v) => world.place(v));
    let survivor: Controller | null = null;
    try {
      // only read the database (no replica here) until the child's runs are underway
      const { FleetStore } = await import('@virtvault/lineage');
      const fleet = await FleetStore.connect({ url: env.databaseUrl });
      try {
        await waitFor('both runs running in the doomed replica', async () => {
          const rs = await fleet.listRuns({ policy: 'kill', status: 'running' });
          return rs.length === 2 ? rs : undefined;
        });
      } finally {
        await fleet.close();
      }
      child.kill('SIGKILL');
      assert.equal(await exited, 'SIGKILL');
      survivor = await started('survivor', world);
      const ctl = survivor;
      await waitFor(
        'both VMs backed up by the survivor',
        async () => {
          const rs = await ctl.service.listRuns({ policy: 'kill', status: 'succeeded' });
          return rs.length >= 2 ? rs : undefined;
        },
        60_000,
      );
      const runs = await ctl.service.listRuns({ policy: 'kill' });
      for (const n of [3, 4]) {
        const mine = runs.filter((r) => r.domainUuid === U(n));
        assert.deepEqual(mine.map((r) => r.status).sort(), ['abandoned', 'succeeded']);
        const abandoned = mine.find((r) => r.status === 'abandoned');
        const ok = mine.find((r) => r.status === 'succeeded');
        assert.equal(abandoned?.errorCode, 'RUN_ABANDONED');
        assert.equal(ok?.jobId, abandoned?.jobId, 'the same job, taken over');
      }
    } finally {
      child.kill('SIGKILL');
      await survivor?.stop();
    }
  });
});
