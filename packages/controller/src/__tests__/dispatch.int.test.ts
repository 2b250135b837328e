import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { PgLineageStore } from '@virtvault/lineage';

import type { Controller } from '../controller.js';
import type { BackupJobData, MaintenanceJobData } from '../queue/types.js';

import { FakeAgentWorld } from './fake-agent.js';
import { type TestEnv, createTestEnv, policy, replica, testConfig, waitFor } from './harness.js';

const MOVER = '10000000-0000-4000-8000-000000000001';
const FLAKY = '10000000-0000-4000-8000-000000000002';

let env: TestEnv;
let world: FakeAgentWorld;
let ctl: Controller;

before(async () => {
  env = await createTestEnv();
  world = new FakeAgentWorld(env.dir, { failFirstBackups: { flaky: 2 } });
  world.place({ uuid: MOVER, name: 'mover', host: 'a', tags: [] });
  world.place({ uuid: FLAKY, name: 'flaky-vm', host: 'flaky', tags: [] });
  const hosts = ['a', 'b', 'flaky'].map((name) => ({
    name,
    address: `${name}:7443`,
    maxConcurrentBackups: 2,
  }));
  const policies = [
    policy('all', { retention: { keepLast: 1, keepDaily: 0, keepWeekly: 0, keepMonthly: 0 } }),
  ];
  ctl = replica(env, world, testConfig(env, { hosts, policies }));
  await ctl.start();
  await waitFor('the first inventory', async () =>
    (await ctl.fleet.listDomains()).length === 2 ? true : undefined,
  );
});

after(async () => {
  await ctl.stop();
  await env.cleanup();
});

describe('dispatch', () => {
  it('re-routes a VM that moved to another host and records the migration', async () => {
    // migrated behind the inventory's back: the controller still thinks it is on a
    world.place({ uuid: MOVER, name: 'mover', host: 'b', tags: [] });
    const [job] = await ctl.service.runNow({ domain: 'mover' });
    assert.equal(job?.host, 'a');
    const run = await waitFor('the run on b', async () => {
      const [r] = await ctl.service.listRuns({ domain: MOVER, status: 'succeeded' });
      return r;
    });
    assert.equal(run.host, 'b');
    assert.equal(run.jobId, job?.jobId);
    assert.equal(run.trigger, 'manual');
    const onA = (await ctl.queues.listJobs('a')).find((j) => j.id === job?.jobId);
    assert.deepEqual(onA?.returnValue, { status: 'rerouted', to: 'b' });
    const onB = (await ctl.queues.listJobs('b')).find((j) => j.id === job?.jobId);
    assert.equal(onB?.state, 'completed');
    const moves = await ctl.fleet.listMoves(MOVER);
    assert.deepEqual(
      moves.map((m) => [m.from, m.to, m.detectedBy]),
      [['a', 'b', 'dispatcher']],
    );
    assert.equal((await ctl.fleet.getDomain(MOVER))?.currentHost, 'b');
  });

  it('re-routes a job back to a host that still keeps it finished (moved there and back)', async () => {
    // the first test's job ended "rerouted" on a and ran on b; the VM is on b. The same job handed
    // to a again (as b's dispatcher does when the VM went back to a before the job ran there)
    // must run, not be dropped because a's queue still keeps that id as completed
    const [first] = await ctl.service.listRuns({ domain: MOVER, status: 'succeeded' });
    const onA = (await ctl.queues.listJobs('a')).find((j) => j.id === first?.jobId);
    assert.equal(onA?.state, 'completed');
    await ctl.queues.rerouteBackup('a', onA?.data as BackupJobData);
    const runs = await waitFor('a second run of the same job', async () => {
      const r = await ctl.service.listRuns({ domain: MOVER, status: 'succeeded' });
      return r.length >= 2 ? r : undefined;
    });
    assert.ok(runs.every((r) => r.jobId === first?.jobId));
    assert.equal(runs[0]?.host, 'b');
  });

  it('a job left on a dead host goes to the host the inventory has the VM running on', async () => {
    // the VM is on b now (the first test); a job queued while it was on a meets a's dead agent
    const [first] = await ctl.service.listRuns({ domain: MOVER, status: 'succeeded' });
    const onA = (await ctl.queues.listJobs('a')).find((j) => j.id === first?.jobId);
    world.down.add('a');
    try {
      const data = { ...(onA?.data as BackupJobData), fireTime: Date.now() };
      const id = await ctl.queues.enqueueBackup('a', data);
      const done = await waitFor('the job run on b', async () => {
        const j = (await ctl.queues.listJobs('b')).find((x) => x.id === id);
        return j?.state === 'completed' ? j : undefined;
      });
      assert.equal(done.attemptsMade, 1, 'no attempt spent on the dead host');
      const runs = await ctl.service.listRuns({ domain: MOVER });
      assert.ok(!runs.some((r) => r.host === 'a' && r.jobId === id), 'no run recorded on a');
      assert.equal((await ctl.fleet.getDomain(MOVER))?.currentHost, 'b');
    } finally {
      world.down.delete('a');
    }
  });

  it('a definition a live migration left behind never takes the backup from where the VM runs', async () => {
    for (const readable of [false, true]) {
      const uuid = `10000000-0000-4000-8000-00000000000${readable ? 5 : 6}`;
      const name = `migrant-${readable ? 'copy' : 'shared'}`;
      world.place({ uuid, name, host: 'a', tags: [] });
      await ctl.service.addHost({ name: 'a', address: 'a:7443' });
      await waitFor('the VM on a', async () =>
        (await ctl.fleet.getDomain(uuid))?.currentHost === 'a' ? true : undefined,
      );
      // migrated to b, its definition left on a (its image held there, or a stale copy)
      world.place({ uuid, name, host: 'b', tags: [] });
      world.leftBehind.set(uuid, { host: 'a', readable });
      if (readable) {
        await ctl.service.addHost({ name: 'b', address: 'b:7443' });
        await waitFor('the VM running on b', async () =>
          (await ctl.fleet.getDomain(uuid))?.currentHost === 'b' ? true : undefined,
        );
      }
      const data = (await ctl.service.runNow({ domain: name, policy: 'all' }))[0];
      const run = await waitFor(`the run of ${name}`, async () => {
        const [r] = await ctl.service.listRuns({ domain: uuid, status: 'succeeded' });
        return r;
      });
      assert.equal(run.host, 'b', name);
      assert.equal(run.jobId, data?.jobId, name);
      assert.equal((await ctl.fleet.getDomain(uuid))?.currentHost, 'b', name);
    }
  });

  it("refuses at once an agent whose hostName is not the fleet's name for its host", async () => {
    world.selfNames.set('b', 'b.lan');
    try {
      const before = world.observeCalls.length;
      const [job] = await ctl.service.runNow({ domain: 'mover' });
      await waitFor('the job failed', async () => {
        const j = (await ctl.queues.listJobs('b')).find((x) => x.id === job?.jobId);
        return j?.state === 'failed' ? j : undefined;
      });
      // longer than the retries' backoff (0.2 + 0.4 s): none came, no retry can fix it
      await new Promise((r) => setTimeout(r, 1000));
      assert.deepEqual(world.observeCalls.slice(before), [`b ${MOVER}`]);
      assert.equal((await ctl.fleet.getDomain(MOVER))?.currentHost, 'b');
      assert.equal(await ctl.fleet.getHost('b.lan'), null, 'no host of that name recorded');
    } finally {
      world.selfNames.delete('b');
    }
  });

  it('records AGENT_UNAVAILABLE failures and retries with backoff until the run succeeds', async () => {
    const [job] = await ctl.service.runNow({ domain: 'flaky-vm', policy: 'all' });
    await waitFor('the successful retry', async () => {
      const [r] = await ctl.service.listRuns({ domain: FLAKY, status: 'succeeded' });
      return r;
    });
    const runs = (await ctl.service.listRuns({ domain: FLAKY })).reverse();
    assert.deepEqual(
      runs.map((r) => [r.status, r.errorCode, r.attempt, r.trigger, r.jobId]),
      [
        ['failed', 'AGENT_UNAVAILABLE', 1, 'manual', job?.jobId],
        ['failed', 'AGENT_UNAVAILABLE', 2, 'retry', job?.jobId],
        ['succeeded', null, 3, 'retry', job?.jobId],
      ],
    );
  });

  it('prunes after a backup when the policy has retention, marking removed snapshots deleted', async () => {
    const first = (await ctl.service.listRuns({ domain: FLAKY, status: 'succeeded' }))[0];
    await new Promise((r) => setTimeout(r, 5));
    await ctl.service.runNow({ domain: 'flaky-vm', policy: 'all' });
    await waitFor('two successful runs', async () => {
      const r = await ctl.service.listRuns({ domain: FLAKY, status: 'succeeded' });
      return r.length >= 2 ? r : undefined;
    });
    await waitFor('one manifest left', async () =>
      (await world.agent('flaky').listManifests('main', FLAKY)).length === 1 ? true : undefined,
    );
    const store = await PgLineageStore.connect({ url: env.databaseUrl });
    try {
      const status = await waitFor('the first snapshot marked deleted', async () => {
        const l = await store.loadLineage('main', { uuid: FLAKY, name: 'flaky-vm' });
        const s = l.snapshots.find((x) => x.id === first?.snapshotId)?.status;
        return s === 'deleted' ? s : undefined;
      });
      assert.equal(status, 'deleted');
      const l = await store.loadLineage('main', { uuid: FLAKY, name: 'flaky-vm' });
      assert.deepEqual(l.snapshots.map((x) => x.status).sort(), ['committed', 'deleted']);

      // the marking failed the first time: a retried prune finds nothing left to remove, and
      // still marks what the repository no longer holds
      await store.setSnapshotStatus('main', first?.snapshotId ?? '', 'committed');
      const again: MaintenanceJobData = {
        kind: 'prune',
        repository: 'main',
        policy: 'all',
        domainUuid: FLAKY,
        retention: { keepLast: 1, keepDaily: 0, keepWeekly: 0, keepMonthly: 0 },
        timeZone: 'UTC',
      };
      await ctl.queues.enqueueMaintenance('flaky', again, 'prune_again');
      const markedDeleted = (what: string) =>
        waitFor(what, async () => {
          const l2 = await store.loadLineage('main', { uuid: FLAKY, name: 'flaky-vm' });
          const st = l2.snapshots.find((x) => x.id === first?.snapshotId)?.status;
          return st === 'deleted' ? st : undefined;
        });
      await markedDeleted('the snapshot marked deleted again');
      // meanwhile a backup's reconcile found it gone and marked it missing: still deleted
      await store.setSnapshotStatus('main', first?.snapshotId ?? '', 'missing');
      await ctl.queues.enqueueMaintenance('flaky', again, 'prune_after_missing');
      await markedDeleted('a missing snapshot the prune removed marked deleted');
    } finally {
      await store.close();
    }
  });

  it('a VM that moved to a host not answering yet is looked for again, not given up', async () => {
    const NOMAD = '10000000-0000-4000-8000-000000000007';
    world.place({ uuid: NOMAD, name: 'nomad', host: 'a', tags: [] });
    await ctl.service.addHost({ name: 'a', address: 'a:7443' });
    await waitFor('the VM listed on a', async () =>
      (await ctl.fleet.getDomain(NOMAD))?.currentHost === 'a' ? true : undefined,
    );
    // it moved to b, whose agent is restarting: the job on a finds it on no host that answers
    world.place({ uuid: NOMAD, name: 'nomad', host: 'b', tags: [] });
    world.down.add('b');
    const [job] = await ctl.service.runNow({ domain: 'nomad', policy: 'all' });
    await waitFor('a retry scheduled', async () => {
      const j = (await ctl.queues.listJobs('a')).find((x) => x.id === job?.jobId);
      return j !== undefined && j.attemptsMade >= 1 ? true : undefined;
    });
    world.down.delete('b');
    const run = await waitFor('the run on b', async () => {
      const [r] = await ctl.service.listRuns({ domain: NOMAD, status: 'succeeded' });
      return r;
    });
    assert.equal(run.host, 'b');
  });

  it("an agent's manifest of another host fails the job at once: no retry writes again", async () => {
    const LIAR = '10000000-0000-4000-8000-000000000008';
    world.place({ uuid: LIAR, name: 'liar', host: 'b', tags: [] });
    world.behaviour.wrongHostFor = [LIAR];
    await ctl.service.addHost({ name: 'b', address: 'b:7443' });
    await waitFor('the VM listed', async () => (await ctl.fleet.getDomain(LIAR)) ?? undefined);
    const [job] = await ctl.service.runNow({ domain: 'liar', policy: 'all' });
    const failed = await waitFor('the job failed', async () => {
      const j = (await ctl.queues.listJobs('b')).find((x) => x.id === job?.jobId);
      return j?.state === 'failed' ? j : undefined;
    });
    assert.equal(failed.attemptsMade, 1);
    const runs = await ctl.service.listRuns({ domain: LIAR });
    assert.deepEqual(
      runs.map((r) => [r.status, r.errorCode]),
      [['failed', 'AGENT_BAD_RESULT']],
    );
  });

  it("a repository's GC runs on a host that has the repository, not on the first host up", async () => {
    world.behaviour.repositories = { a: ['main'], b: ['main', 'offsite'], flaky: ['main'] };
    try {
      const gc: MaintenanceJobData = {
        kind: 'gc',
        repository: 'offsite',
        policy: 'all',
        domainUuid: null,
        retention: null,
        timeZone: 'UTC',
      };
      await ctl.queues.enqueueMaintenance(null, gc, 'gc_offsite_1');
      await waitFor('the GC run', () =>
        Promise.resolve(world.gcRuns.includes('b offsite') ? true : undefined),
      );
      assert.deepEqual(
        world.gcRuns.filter((g) => g.endsWith(' offsite')),
        ['b offsite'],
      );
    } finally {
      world.behaviour.repositories = {};
    }
  });

  it('a VM gone from every host gets no job when its policy fires', async () => {
    const GHOST = '10000000-0000-4000-8000-000000000009';
    const refreshA = () => ctl.service.addHost({ name: 'a', address: 'a:7443' });
    world.place({ uuid: GHOST, name: 'ghost', host: 'a', tags: [] });
    await refreshA();
    await waitFor('the VM listed', async () => (await ctl.fleet.getDomain(GHOST)) ?? undefined);
    world.vms.delete(GHOST);
    await refreshA();
    await waitFor('the VM marked gone', async () =>
      ((await ctl.fleet.getDomain(GHOST))?.goneAt ?? null) !== null ? true : undefined,
    );
    // last in the file: the jobs it makes would meet the tests above
    const jobs = await ctl.service.runNow({ policy: 'all' });
    const names = jobs.map((j) => j.domain.name);
    assert.ok(names.includes('mover'), names.join());
    assert.ok(!names.includes('ghost'), names.join());
  });
});
