/**
 * `Controller`: one replica. Start connects Postgres (migrating) and Redis, syncs configured hosts
 * and policies into Postgres and job schedulers, starts the queue workers and the inventory.
 * Stop is graceful: workers close (running jobs get the grace period, then their agent streams
 * are cancelled), then queues, Redis, Postgres and the agent pool.
 * The HTTP API, dashboard and `/metrics` (over `service` and a `Reporter`) and the webhook
 * notifier start last and stop first.
 */
import {
  type FleetHost,
  FleetStore,
  PgLineageStore,
  ReportStore,
  TokenStore,
} from '@virtvault/lineage';
import { Redis } from 'ioredis';

import { AgentCaps } from './agent-caps.js';
import { type AgentFactory, AgentPool, grpcAgentFactory } from './agents.js';
import type { ControllerConfig } from './config.js';
import { Dispatcher } from './dispatch.js';
import { ControllerError, messageOf } from './errors.js';
import { Inventory } from './inventory.js';
import { dashboardRoutes } from './dashboard/routes.js';
import { HttpApi } from './http/server.js';
import { JobQueues } from './queue/job-queues.js';
import { Notifier } from './report/notifier.js';
import { Reporter } from './report/reporter.js';
import { FleetService } from './service.js';

/** How to build a replica. */
export interface ControllerOptions {
  /** Validated configuration. */
  config: ControllerConfig;
  /** Postgres URL (`DATABASE_URL`). */
  databaseUrl: string;
  /** Redis URL (`REDIS_URL`). */
  redisUrl: string;
  /** Agent clients; gRPC over mTLS with the config's TLS files by default. */
  agentFactory?: AgentFactory;
  /** Log lines. @default stderr */
  log?: (line: string) => void;
  /** Time. @default Date.now */
  now?: () => number;
  /**
   * How often the host limits are read again and Redis's share of the configuration (the policies'
   * job schedulers, the hosts' limits) is put back. @default 30000
   */
  reconcileMs?: number;
}

interface Running {
  fleet: FleetStore;
  lineage: PgLineageStore;
  redis: Redis;
  agents: AgentPool;
  queues: JobQueues;
  inventory: Inventory;
  service: FleetService;
  limitsTimer: NodeJS.Timeout;
  /** The reconcile in progress, which `stop()` waits for. */
  reconciling: Promise<void> | null;
  web: Web | null;
}

interface Web {
  tokens: TokenStore;
  reports: ReportStore;
  notifier: Notifier;
  http: HttpApi;
  address: string;
}

/** One controller replica. */
export class Controller {
  #running: Running | null = null;
  readonly #hostLimits = new Map<string, number>();
  readonly #agentCaps = new AgentCaps();
  readonly #log: (line: string) => void;
  readonly #now: () => number;

  /** @param o configuration and connections */
  constructor(private readonly o: ControllerOptions) {
    const id = o.config.replicaId ?? `pid${process.pid}`;
    this.#log = o.log ?? ((l) => process.stderr.write(`controller ${id}: ${l}\n`));
    this.#now = o.now ?? Date.now;
  }

  /** The fleet service (the HTTP API's backend); only after `start`. */
  get service(): FleetService {
    return this.started().service;
  }

  /** The queues (tests, metrics); only after `start`. */
  get queues(): JobQueues {
    return this.started().queues;
  }

  /** Where the HTTP API listens (`host:port`); only after `start`. */
  get httpAddress(): string {
    return this.started().web?.address ?? '';
  }

  /** The fleet tables; only after `start`. */
  get fleet(): FleetStore {
    return this.started().fleet;
  }

  private started(): Running {
    if (this.#running === null) {
      throw new ControllerError('NOT_STARTED', 'the controller is not running');
    }
    return this.#running;
  }

  /** Connects, syncs configuration, starts workers and inventory. */
  async start(): Promise<void> {
    if (this.#running !== null) {
      return;
    }
    const cfg = this.o.config;
    const factory = this.o.agentFactory ?? (await grpcAgentFactory(cfg.grpc));
    const fleet = await FleetStore.connect({ url: this.o.databaseUrl });
    const lineage = await PgLineageStore.connect({ url: this.o.databaseUrl }).catch(
      async (e: unknown) => {
        await fleet.close();
        throw e;
      },
    );
    // One shared connection for queues and producers; each open worker adds one blocking one.
    const redis = new Redis(this.o.redisUrl, { maxRetriesPerRequest: null, lazyConnect: false });
    redis.on('error', (e) => this.#log(`redis: ${e.message}`));
    this.#running = this.assemble(fleet, lineage, redis, new AgentPool(factory));
    try {
      await this.syncConfig();
    } catch (e) {
      await this.stop();
      throw e;
    }
    this.#running.queues.start();
    this.#running.inventory.start();
    try {
      this.#running.web = await this.startWeb(this.#running);
    } catch (e) {
      await this.stop();
      throw e;
    }
  }

  /** The HTTP API, dashboard, metrics and notifier. */
  private async startWeb(r: Running): Promise<Web> {
    const cfg = this.o.config;
    const now = this.#now;
    const tokens = await TokenStore.connect({ url: this.o.databaseUrl });
    const reports = await ReportStore.connect({ url: this.o.databaseUrl });
    const defaultRpoMs = cfg.reporting.defaultRpoHours * 3_600_000;
    const reporter = new Reporter({
      store: reports,
      queueDepths: async () => r.queues.depths((await r.fleet.listHosts()).map((h) => h.name)),
      defaultRpoMs,
      now,
      policiesByVm: async () =>
        new Map((await r.service.listVms({})).map((v) => [v.uuid, v.policies] as const)),
    });
    const notifier = new Notifier({
      store: reports,
      webhooks: cfg.reporting.webhooks,
      events: cfg.reporting.events,
      defaultRpoMs,
      intervalMs: cfg.reporting.notifyIntervalSec * 1000,
      retryBaseMs: cfg.reporting.retryBaseSec * 1000,
      now,
      log: this.#log,
    });
    const http = new HttpApi({
      listen: cfg.http.listen,
      fleet: r.service,
      report: reporter,
      tokens,
      now,
      extraRoutes: dashboardRoutes({ reporter, tokens, now }),
      logError: (line) => this.#log(`http: ${line}`),
    });
    const address = await http.start();
    notifier.start();
    this.#log(`HTTP API and dashboard on http://${address}`);
    return { tokens, reports, notifier, http, address };
  }

  private assemble(
    fleet: FleetStore,
    lineage: PgLineageStore,
    redis: Redis,
    agents: AgentPool,
  ): Running {
    const t = this.o.config.timings;
    const log = this.#log;
    const now = this.#now;
    const callTimeoutMs = t.agentCallTimeoutSec * 1000;
    let queues: JobQueues | null = null;
    const inventory = new Inventory(fleet, agents, {
      intervalMs: t.inventoryIntervalSec * 1000,
      callTimeoutMs,
      now,
      log,
      onAgentLimit: (h, agentLimit) => this.#capByAgent(queues, h, agentLimit),
    });
    const dispatcher = new Dispatcher({
      fleet,
      lineage,
      agents,
      inventory,
      queues: () => queues as JobQueues,
      timings: {
        callTimeoutMs,
        staleRunAfterMs: t.staleRunAfterSec * 1000,
        gcAfterMs: t.gcAfterSec * 1000,
      },
      now,
      log,
    });
    queues = this.#jobQueues(redis, dispatcher);
    const service = new FleetService({ fleet, queues, dispatcher, inventory, agents, now });
    const limitsTimer = setInterval(() => this.#reconcileSoon(), this.o.reconcileMs ?? 30_000);
    const parts = { fleet, lineage, redis, agents, queues, inventory, service, limitsTimer };
    return { ...parts, reconciling: null, web: null };
  }

  /** The BullMQ queues and workers, with the per-host and per-repository limits. */
  #jobQueues(redis: Redis, dispatcher: Dispatcher): JobQueues {
    const t = this.o.config.timings;
    const repoLimits = new Map(this.o.config.repositories.map((r) => [r.name, r.maxConcurrent]));
    return new JobQueues(
      redis,
      {
        prefix: this.o.config.queuePrefix,
        workerName: this.o.config.replicaId ?? `pid${process.pid}`,
        lockDurationMs: t.lockDurationSec * 1000,
        stalledIntervalMs: t.stalledIntervalSec * 1000,
        attempts: t.retry.attempts,
        backoffMs: t.retry.backoffSec * 1000,
        idleCloseMs: t.idleWorkerCloseSec * 1000,
      },
      dispatcher,
      {
        hostConcurrency: (h) => this.#hostLimits.get(h) ?? 2,
        repoConcurrency: (r) => repoLimits.get(r) ?? null,
      },
      this.#log,
    );
  }

  /**
   * Caps a host's queue at its agent's own backup limit when that is lower (see `AgentCaps`),
   * and gives the configured limit back once it no longer is.
   */
  async #capByAgent(queues: JobQueues | null, h: FleetHost, agentLimit: number): Promise<void> {
    const was = this.#agentCaps.capOf(h.name);
    const limit = this.#agentCaps.learn(h.name, h.maxConcurrent, agentLimit);
    if (limit === null || queues === null) {
      return;
    }
    await queues.setHostConcurrency(h.name, limit);
    this.#hostLimits.set(h.name, limit);
    if (this.#agentCaps.capOf(h.name) !== was) {
      const why = `its agent takes ${agentLimit} backups at once, the host's limit is ${h.maxConcurrent}`;
      this.#log(`host ${h.name}: ${limit} backups at once (${why})`);
    }
  }

  /** Starts a reconcile unless one is running. */
  #reconcileSoon(): void {
    const r = this.#running;
    if (r === null || r.reconciling !== null) {
      return;
    }
    r.reconciling = this.#reconcile(r).finally(() => {
      r.reconciling = null;
    });
  }

  /**
   * The host limits from the database, and Redis's share of the configuration put back: a Redis
   * restarted without persistence (or flushed) lost the job schedulers, written only at start, so
   * no policy fired again until a replica restarted, and the hosts' limits, so nothing bounded a
   * host's backups across replicas. Unchanged schedulers are left alone (see `syncSchedule`).
   */
  async #reconcile(r: Running): Promise<void> {
    try {
      await this.refreshLimits();
      for (const h of await r.fleet.listHosts()) {
        await r.queues.setHostConcurrency(
          h.name,
          this.#agentCaps.effective(h.name, h.maxConcurrent),
        );
      }
      for (const p of await r.fleet.listPolicies()) {
        await r.queues.syncSchedule(p);
      }
    } catch (e) {
      this.#log(`reconcile: ${messageOf(e)}`);
    }
  }

  private async refreshLimits(): Promise<void> {
    const r = this.#running;
    if (r === null) {
      return;
    }
    try {
      for (const h of await r.fleet.listHosts()) {
        this.#hostLimits.set(h.name, this.#agentCaps.effective(h.name, h.maxConcurrent));
      }
    } catch (e) {
      this.#log(`host limits: ${messageOf(e)}`);
    }
  }

  /** Configured hosts and policies into Postgres; every stored policy into a job scheduler. */
  private async syncConfig(): Promise<void> {
    const { fleet, queues } = this.started();
    const cfg = this.o.config;
    const at = this.#now();
    for (const h of cfg.hosts) {
      const host = { name: h.name, address: h.address, maxConcurrent: h.maxConcurrentBackups };
      await fleet.upsertHost({ ...host, enabled: true }, at);
      const limit = this.#agentCaps.effective(h.name, h.maxConcurrentBackups);
      await queues.setHostConcurrency(h.name, limit);
    }
    for (const p of cfg.policies) {
      await fleet.upsertPolicy(p, at);
    }
    for (const p of await fleet.listPolicies()) {
      await queues.syncSchedule(p);
    }
    await this.refreshLimits();
  }

  /** Graceful stop; idempotent. */
  async stop(): Promise<void> {
    const r = this.#running;
    if (r === null) {
      return;
    }
    this.#running = null;
    clearInterval(r.limitsTimer);
    await r.reconciling;
    r.inventory.stop();
    const grace = this.o.config.timings.shutdownGraceSec * 1000;
    // the workers first: no job starts after the signal, and the running ones have the whole
    // grace, not what the webhook round behind the HTTP server's stop left of it
    const queues = r.queues.stop(grace).catch((e: unknown) => this.#log(`queues: ${messageOf(e)}`));
    if (r.web !== null) {
      await r.web.http.stop();
      // a round posting to webhooks that do not answer may take longer: its news stay queued
      // in the database for the next replica's round
      await withinMs(r.web.notifier.stop(), grace);
      await Promise.all([r.web.tokens.close(), r.web.reports.close()]);
    }
    await queues;
    r.agents.closeAll();
    await r.redis.quit().catch(() => undefined);
    await Promise.all([r.fleet.close(), r.lineage.close()]);
  }
}

/** Waits for `p`, or `ms` at most. */
async function withinMs(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
  });
  await Promise.race([p.catch(() => undefined), late]);
  clearTimeout(timer);
}
