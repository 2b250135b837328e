import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { Queue } from 'bullmq';
import { Redis } from 'ioredis';

import type { Controller } from '../controller.js';
import { PLAN_QUEUE, schedulerId } from '../queue/job-ids.js';
import type { BackupJobData } from '../queue/types.js';

import { FakeAgentWorld } from './fake-agent.js';
import { type TestEnv, createTestEnv, policy, replica, testConfig, waitFor } from './harness.js';

const U = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;

const HOSTS = [
  { name: 'a', address: 'a:7443', maxConcurrentBackups: 2 },
  { name: 'b', address: 'b:7443', maxConcurrentBackups: 2 },
  { name: 'c', address: 'c:7443', maxConcurrentBackups: 1 },
];
const config = () =>
  testConfig(env, { hosts: HOSTS, policies: [policy('solo', { selector: { tag: 'solo' } })] });

let env: TestEnv;
let world: FakeAgentWorld;
let ctl: Controller;

before(async () => {
  env = await createTestEnv();
  world = new FakeAgentWorld(env.dir, { backupMs: 150, heartbeatMs: 50 });
  world.place({ uuid: U(1), name: 'web-1', host: 'a', tags: [] });
  world.place({ uuid: U(2), name: 'web-2', host: 'a', tags: [] });
  world.place({ uuid: U(3), name: 'web-3', host: 'b', tags: [] });
  world.place({ uuid: U(4), name: 'db-1', host: 'b', tags: [] });
  world.place({ uuid: U(8), name: 'twin-8', host: 'a', tags: ['twin'] });
  for (const n of [5, 6, 7]) {
    world.place({ uuid: U(n), name: `solo-${n}`, host: 'c', tags: ['solo'] });
  }
  ctl = replica(env, world, config());
  await ctl.start();
  await waitFor('the first inventory', async () =>
    (await ctl.fleet.listDomains()).length === 8 ? true : undefined,
  );
});

after(async () => {
  await ctl.stop();
  await env.cleanup();
});

describe('scheduling', () => {
  it('a 1-second cron fires and fans out one backup job per matching VM on its host queue', async () => {
    await ctl.service.upsertPolicy({
      ...policy('web'),
      selector: { nameGlob: 'web-*' },
      cron: '* * * * * *',
    });
    const fired = await waitFor('a fired plan job', async () => {
      const plans = await ctl.queues.listJobs(null);
      // the job's fields are read before its state: one that completed in between is listed
      // completed without its return value yet, so that is waited for too
      const done = plans.filter(
        (j) => j.name === 'plan' && j.state === 'completed' && j.returnValue !== null,
      );
      return done.length > 0 ? done : undefined;
    });
    assert.equal(await ctl.service.deletePolicy('web'), true);
    const schedules = await ctl.queues.listSchedules();
    assert.deepEqual(
      schedules.map((s) => s.policy),
      ['solo'],
    );
    const fire = (fired[0]?.returnValue as { fireTime: number }).fireTime;
    assert.ok(fire > 0);
    // a plan that fails on a database or Redis blip is tried again, not lost with its fire
    assert.equal(fired[0]?.attempts, 3);
    const ids = async (host: string) =>
      (await ctl.queues.listJobs(host))
        .filter((j) => (j.data as BackupJobData).fireTime === fire)
        .map((j) => j.id)
        .sort();
    assert.deepEqual(await ids('a'), [`backup_web_${U(1)}_${fire}`, `backup_web_${U(2)}_${fire}`]);
    assert.deepEqual(await ids('b'), [`backup_web_${U(3)}_${fire}`]);
    assert.deepEqual(await ids('c'), []);
    const job = (await ctl.queues.listJobs('a')).find((j) => j.id === `backup_web_${U(1)}_${fire}`);
    assert.equal((job?.data as BackupJobData).trigger, 'schedule');
    assert.equal((job?.data as BackupJobData).policy, 'web');
  });

  it('a double fire of one policy at one time is one job per VM', async () => {
    const fire = Date.parse('2030-01-01T03:00:00Z');
    await Promise.all([ctl.queues.enqueuePlan('solo', fire), ctl.queues.enqueuePlan('solo', fire)]);
    const jobs = await waitFor('three solo jobs', async () => {
      const all = (await ctl.queues.listJobs('c')).filter(
        (j) => (j.data as BackupJobData).fireTime === fire,
      );
      return all.length >= 3 ? all : undefined;
    });
    // a second fan-out of the same fire (a replica re-running the plan job) adds nothing
    await ctl.queues.enqueueBackup('c', { ...(jobs[0]?.data as BackupJobData) });
    const again = (await ctl.queues.listJobs('c')).filter(
      (j) => (j.data as BackupJobData).fireTime === fire,
    );
    assert.deepEqual(
      again.map((j) => j.id).sort(),
      [5, 6, 7].map((n) => `backup_solo_${U(n)}_${fire}`),
    );
  });

  it('two policies selecting one VM at one fire both back it up, one after the other, each on its first attempt', async () => {
    const fire = Date.parse('2030-01-02T03:00:00Z');
    for (const name of ['twin-a', 'twin-b']) {
      await ctl.service.upsertPolicy({ ...policy(name), selector: { tag: 'twin' } });
    }
    // backups long enough that the two jobs, started together on host a (limit 2), surely meet
    world.behaviour.backupMs = 1000;
    const runs = await (async () => {
      try {
        await Promise.all([
          ctl.queues.enqueuePlan('twin-a', fire),
          ctl.queues.enqueuePlan('twin-b', fire),
        ]);
        return await waitFor('a succeeded run of each policy', async () => {
          const all = await ctl.service.listRuns({ domain: U(8) });
          return all.filter((r) => r.status === 'succeeded').length === 2 ? all : undefined;
        });
      } finally {
        world.behaviour.backupMs = 150;
      }
    })();
    assert.deepEqual(runs.map((r) => r.policy).sort(), ['twin-a', 'twin-b']);
    // the second waited for the first without spending an attempt: no failed run, no retry
    assert.deepEqual(
      runs.map((r) => [r.status, r.attempt, r.trigger]),
      [
        ['succeeded', 1, 'schedule'],
        ['succeeded', 1, 'schedule'],
      ],
    );
    const jobs = (await ctl.queues.listJobs('a')).filter(
      (j) => (j.data as BackupJobData).fireTime === fire,
    );
    assert.deepEqual(jobs.map((j) => j.id).sort(), [
      `backup_twin-a_${U(8)}_${fire}`,
      `backup_twin-b_${U(8)}_${fire}`,
    ]);
    const waits = jobs.map((j) => (j.data as BackupJobData).busyWaits ?? 0).sort();
    assert.equal(waits[0], 0);
    assert.ok((waits[1] ?? 0) >= 1, 'the jobs ran at once and one should have waited');
    const onTwin = world.backups.filter((b) => b.domainUuid === U(8));
    assert.equal(onTwin.length, 2);
  });

  it("backups the agent refuses as busy (its own limit below the host's here) wait without spending attempts", async () => {
    const fire = Date.parse('2030-01-03T03:00:00Z');
    await ctl.service.upsertPolicy({ ...policy('busy'), selector: { host: 'b' } });
    // host b takes 2 here, its agent 1: one of b's two backups is refused at first
    world.behaviour.agentLimit = { b: 1 };
    world.behaviour.backupMs = 600;
    try {
      await ctl.queues.enqueuePlan('busy', fire);
      const jobs = await waitFor("b's two backups of the fire done", async () => {
        const done = (await ctl.queues.listJobs('b')).filter(
          (j) => (j.data as BackupJobData).fireTime === fire && j.state === 'completed',
        );
        return done.length === 2 ? done : undefined;
      });
      assert.ok(world.busyRefusals.length >= 1, 'the agent refused one at first');
      // one attempt each, the one that succeeded: the refusal spent none
      assert.deepEqual(
        jobs.map((j) => j.attemptsMade),
        [1, 1],
      );
      for (const uuid of [U(3), U(4)]) {
        const runs = await ctl.service.listRuns({ domain: uuid, policy: 'busy' });
        const ok = runs.filter((r) => r.status === 'succeeded');
        assert.deepEqual(
          ok.map((r) => r.attempt),
          [1],
          uuid,
        );
      }
    } finally {
      world.behaviour.agentLimit = {};
      world.behaviour.backupMs = 150;
      await ctl.service.deletePolicy('busy');
    }
  });

  it("a host whose agent takes fewer backups at once is capped at its agent's limit: none refused, none failed", async () => {
    const fire = Date.parse('2030-01-04T03:00:00Z');
    const refused = world.busyRefusals.length;
    world.behaviour.agentLimit = { b: 1 };
    world.behaviour.backupMs = 400;
    const hostB = { name: 'b', address: 'b:7443', maxConcurrentBackups: 2 };
    try {
      // the host's settings put again: its agent is polled at once and says it takes 1
      await ctl.service.addHost(hostB);
      await waitFor("b's queue capped at 1", async () =>
        (await ctl.queues.hostConcurrency('b')) === 1 ? true : undefined,
      );
      await ctl.service.upsertPolicy({ ...policy('capped'), selector: { host: 'b' } });
      await ctl.queues.enqueuePlan('capped', fire);
      await waitFor("b's two backups of the fire done", async () => {
        const done = (await ctl.queues.listJobs('b')).filter(
          (j) => (j.data as BackupJobData).fireTime === fire && j.state === 'completed',
        );
        return done.length === 2 ? done : undefined;
      });
      assert.equal(world.busyRefusals.length, refused, 'the agent refused none');
      for (const uuid of [U(3), U(4)]) {
        const runs = await ctl.service.listRuns({ domain: uuid, policy: 'capped' });
        assert.deepEqual(
          runs.map((r) => r.status),
          ['succeeded'],
          `${uuid}: one run, no failed one`,
        );
      }
      // the agent takes 4 again (its default here): the host's own limit is given back
      world.behaviour.agentLimit = {};
      await ctl.service.addHost(hostB);
      await waitFor("b's queue at its own 2 again", async () =>
        (await ctl.queues.hostConcurrency('b')) === 2 ? true : undefined,
      );
    } finally {
      world.behaviour.agentLimit = {};
      world.behaviour.backupMs = 150;
      await ctl.service.deletePolicy('capped');
    }
  });

  it('a host limited to 1 never runs two backups at once', async () => {
    await waitFor('three successful solo runs', async () => {
      const runs = await ctl.service.listRuns({ host: 'c', status: 'succeeded' });
      return runs.length >= 3 ? runs : undefined;
    });
    const runs = (await ctl.service.listRuns({ host: 'c' })).sort(
      (x, y) => x.startedAt - y.startedAt,
    );
    for (let i = 1; i < runs.length; i++) {
      const prev = runs[i - 1];
      const cur = runs[i];
      assert.ok(prev?.finishedAt != null && cur !== undefined);
      assert.ok(cur.startedAt >= prev.finishedAt, `run ${cur.id} started before ${prev.id} ended`);
    }
    const onC = world.backups.filter((b) => b.host === 'c').sort((x, y) => x.start - y.start);
    for (let i = 1; i < onC.length; i++) {
      assert.ok(
        (onC[i]?.start ?? 0) >= (onC[i - 1]?.end ?? Infinity),
        'agent saw overlapping backups',
      );
    }
    assert.equal(runs.filter((r) => r.status === 'succeeded').length, 3);
    assert.ok(
      runs.every((r) => r.policy === 'solo' && r.trigger === 'schedule' && r.attempt === 1),
    );
  });

  it('a fire that found no replica up is planned when a replica starts, not dropped', async () => {
    await ctl.service.upsertPolicy({
      ...policy('tick'),
      selector: { nameGlob: 'nothing-*' },
      cron: '* * * * * *',
    });
    await ctl.stop();
    // the scheduler's pending fire, which comes while no replica runs: its job waits in Redis
    const redis = new Redis(env.redisUrl, { maxRetriesPerRequest: null });
    const plan = new Queue(PLAN_QUEUE, { connection: redis, prefix: env.prefix });
    const pending = (await plan.getJobScheduler(schedulerId('tick')))?.next;
    await plan.close();
    redis.disconnect();
    assert.ok(pending !== undefined);
    await new Promise((r) => setTimeout(r, Math.max(0, pending - Date.now()) + 300));
    ctl = replica(env, world, config());
    await ctl.start();
    await waitFor('the missed fire planned', async () => {
      const plans = await ctl.queues.listJobs(null);
      const done = plans.filter((j) => j.state === 'completed' && j.returnValue !== null);
      const fires = done.map((j) => j.returnValue as { policy: string; fireTime: number });
      return fires.some((v) => v.policy === 'tick' && v.fireTime === pending) ? true : undefined;
    });
    assert.equal(await ctl.service.deletePolicy('tick'), true);
  });
});
