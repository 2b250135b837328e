import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { Queue } from 'bullmq';
import { Redis } from 'ioredis';

import { Controller } from '../controller.js';
import { PLAN_QUEUE, hostQueueName, schedulerId } from '../queue/job-ids.js';

import { FakeAgentWorld } from './fake-agent.js';
import { type TestEnv, createTestEnv, policy, testConfig, waitFor } from './harness.js';

let env: TestEnv;
let ctl: Controller;
let redis: Redis;

before(async () => {
  env = await createTestEnv();
  const world = new FakeAgentWorld(env.dir);
  const hosts = [{ name: 'c', address: 'c:7443', maxConcurrentBackups: 1 }];
  const config = testConfig(env, { hosts, policies: [policy('nightly')] });
  ctl = new Controller({
    config,
    databaseUrl: env.databaseUrl,
    redisUrl: env.redisUrl,
    agentFactory: (h) => world.agent(h.name),
    log: () => undefined,
    reconcileMs: 200,
  });
  await ctl.start();
  redis = new Redis(env.redisUrl, { maxRetriesPerRequest: null });
});

after(async () => {
  await ctl.stop();
  redis.disconnect();
  await env.cleanup();
});

describe('reconcile', () => {
  it('puts back the schedulers and host limits Redis lost (a restart without persistence)', async () => {
    const plan = new Queue(PLAN_QUEUE, { connection: redis, prefix: env.prefix });
    const hostC = new Queue(hostQueueName('c'), { connection: redis, prefix: env.prefix });
    try {
      assert.equal(await hostC.getGlobalConcurrency(), 1);
      assert.notEqual(await plan.getJobScheduler(schedulerId('nightly')), undefined);
      await plan.removeJobScheduler(schedulerId('nightly'));
      await hostC.removeGlobalConcurrency();
      await waitFor('the scheduler and the limit back', async () => {
        const s = await plan.getJobScheduler(schedulerId('nightly'));
        const limit = await hostC.getGlobalConcurrency();
        return s !== undefined && limit === 1 ? true : undefined;
      });
      const [schedule] = await ctl.queues.listSchedules();
      assert.equal(schedule?.policy, 'nightly');
      assert.ok((schedule?.next ?? 0) > Date.now());
    } finally {
      await plan.close();
      await hostC.close();
    }
  });

  it('a scheduler whose policy is gone is removed when it fires', async () => {
    // what a reconcile leaves when it read a policy just before another replica deleted it
    const plan = new Queue(PLAN_QUEUE, { connection: redis, prefix: env.prefix });
    try {
      await plan.upsertJobScheduler(
        schedulerId('ghost'),
        { pattern: '* * * * * *' },
        { name: 'plan', data: { policy: 'ghost' } },
      );
      await waitFor('the ghost scheduler removed', async () =>
        (await plan.getJobScheduler(schedulerId('ghost'))) === undefined ? true : undefined,
      );
      const schedules = await ctl.queues.listSchedules();
      assert.deepEqual(
        schedules.map((x) => x.policy),
        ['nightly'],
      );
    } finally {
      await plan.close();
    }
  });
});
