/**
 * Test harness of the controller's integration tests: a fresh database and a unique BullMQ prefix
 * per test file, configurations with short timings, and polling helpers.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { FleetPolicy } from '@virtvault/lineage';
import { Redis } from 'ioredis';

// The lineage's test databases (compiled next to its tests).
import { createTestDatabase } from '../../../lineage/dist/__tests__/test-db.js';
import type { ControllerConfig } from '../config.js';
import { Controller } from '../controller.js';

import type { FakeAgentWorld } from './fake-agent.js';

/** The lab's Redis unless the environment names another. */
export const TEST_REDIS_URL = process.env['VV_TEST_REDIS_URL'] ?? 'redis://127.0.0.1:56379';

/** A database, a queue prefix and a scratch directory, removed by `cleanup`. */
export interface TestEnv {
  databaseUrl: string;
  redisUrl: string;
  prefix: string;
  dir: string;
  cleanup: () => Promise<void>;
}

/** Creates a test environment. */
export async function createTestEnv(): Promise<TestEnv> {
  const db = await createTestDatabase();
  const prefix = `vvtest-${randomBytes(4).toString('hex')}`;
  const dir = await mkdtemp(join(tmpdir(), 'vv-controller-'));
  return {
    databaseUrl: db.url,
    redisUrl: TEST_REDIS_URL,
    prefix,
    dir,
    cleanup: async () => {
      await db.drop();
      await rm(dir, { recursive: true, force: true });
      const redis = new Redis(TEST_REDIS_URL);
      const keys = await redis.keys(`${prefix}:*`);
      if (keys.length > 0) {
        await redis.del(...keys);
      }
      await redis.quit();
    },
  };
}

/** A policy over `main`. */
export function policy(name: string, over: Partial<FleetPolicy> = {}): FleetPolicy {
  return {
    name,
    selector: {},
    cron: '0 3 * * *',
    timeZone: 'UTC',
    level: { level: 'auto', timeZone: 'UTC' },
    retention: null,
    repository: 'main',
    enabled: true,
    ...over,
  };
}

/** A configuration with short timings. */
export function testConfig(
  env: TestEnv,
  over: Partial<Omit<ControllerConfig, 'timings'>> & {
    timings?: Partial<ControllerConfig['timings']>;
  } = {},
): ControllerConfig {
  const { timings, ...rest } = over;
  return {
    http: { listen: '127.0.0.1:0' },
    grpc: { ca: '/nonexistent', cert: '/nonexistent', key: '/nonexistent' },
    hosts: [],
    repositories: [],
    policies: [],
    replicaId: null,
    queuePrefix: env.prefix,
    reporting: {
      defaultRpoHours: 26,
      webhooks: [],
      events: [],
      notifyIntervalSec: 1,
      retryBaseSec: 0.2,
    },
    ...rest,
    timings: {
      inventoryIntervalSec: 3600,
      retry: { attempts: 3, backoffSec: 0.2 },
      staleRunAfterSec: 3,
      // BullMQ renews a job's lock every half of this: at 2 s, one renewal a second late (a busy
      // CI machine) lost the lock, and the stalled check ran the job a second time
      lockDurationSec: 6,
      stalledIntervalSec: 3,
      agentCallTimeoutSec: 5,
      idleWorkerCloseSec: 2,
      gcAfterSec: 3600,
      shutdownGraceSec: 5,
      ...timings,
    },
  };
}

/** A controller replica whose agents are the world's fakes. */
export function replica(env: TestEnv, world: FakeAgentWorld, config: ControllerConfig): Controller {
  return new Controller({
    config,
    databaseUrl: env.databaseUrl,
    redisUrl: env.redisUrl,
    agentFactory: (h) => world.agent(h.name),
    log: () => undefined,
  });
}

/** Polls `fn` until it returns a value other than undefined; fails after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined>,
  timeoutMs = 30_000,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < end) {
    try {
      const v = await fn();
      if (v !== undefined) {
        return v;
      }
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(
    `timed out waiting for ${what}${last instanceof Error ? `: ${last.message}` : ''}`,
  );
}
