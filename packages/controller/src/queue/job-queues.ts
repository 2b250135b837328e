/**
 * `JobQueues`: every use of BullMQ. A `plan` queue with one job scheduler per policy (cron and
 * time zone) whose jobs fan out backups; per-host backup queues whose global concurrency is the
 * host's limit, worked by on-demand workers (`HostWorkers`); a per-repository slot limit taken
 * before a backup (no slot: the job is delayed, not failed); retries with exponential backoff.
 */
import {
  DelayedError,
  type Job,
  type JobSchedulerJson,
  type JobsOptions,
  Queue,
  Worker,
} from 'bullmq';
import type { Redis } from 'ioredis';

import { ControllerError } from '../errors.js';

import { HostWorkers, SHUTTING_DOWN, closeWorker } from './host-workers.js';
import { PLAN_QUEUE, backupJobId, hostQueueName, planJobId, schedulerId } from './job-ids.js';
import { guard, isWaitRefusal, waitForDomain } from './job-waits.js';
import { RepoLeases } from './repo-leases.js';
import type {
  BackupJobData,
  JobContext,
  JobHandlers,
  MaintenanceJobData,
  QueuedJob,
} from './types.js';

/** Settings of the queues. */
export interface QueueSettings {
  /** Redis key prefix (one per deployment; tests use a unique one). */
  prefix: string;
  /** Worker name (the replica). */
  workerName: string;
  /** Job lock; a dead replica's jobs are taken over after it expires and a stalled check ran. */
  lockDurationMs: number;
  /** Stalled-job check period. */
  stalledIntervalMs: number;
  /** Attempts per backup job. */
  attempts: number;
  /** First retry delay; doubles per attempt. */
  backoffMs: number;
  /** Idle host workers close after this. */
  idleCloseMs: number;
  /** Busy-host poll period. @default 1000 */
  supervisorIntervalMs?: number;
  /** Delay of a job that found its repository full. @default 5000 */
  repoRetryMs?: number;
}

/** Limits looked up per job, so API changes apply without restarts. */
export interface QueueLimits {
  /** Backups at once on a host. */
  hostConcurrency(host: string): number;
  /** Backups at once into a repository, null for no limit. */
  repoConcurrency(repository: string): number | null;
}

const KEEP_DONE = { age: 24 * 3600, count: 10_000 };
const KEEP_FAILED = { age: 7 * 24 * 3600, count: 10_000 };

/** The controller's queues on one Redis. */
export class JobQueues {
  readonly #queues = new Map<string, Queue>();
  readonly #hostWorkers: HostWorkers;
  readonly #leases: RepoLeases;
  #planWorker: Worker | null = null;

  /**
   * @param redis shared connection (`maxRetriesPerRequest: null`); the caller closes it
   * @param settings names and timings
   * @param handlers the work
   * @param limits host and repository limits
   * @param log one line per notable event
   */
  constructor(
    private readonly redis: Redis,
    private readonly settings: QueueSettings,
    private readonly handlers: JobHandlers,
    private readonly limits: QueueLimits,
    private readonly log: (line: string) => void = () => undefined,
  ) {
    this.#leases = new RepoLeases(
      redis,
      settings.prefix,
      Math.max(settings.lockDurationMs, 10_000),
    );
    this.#hostWorkers = new HostWorkers(
      redis,
      {
        prefix: settings.prefix,
        lockDurationMs: settings.lockDurationMs,
        stalledIntervalMs: settings.stalledIntervalMs,
        idleCloseMs: settings.idleCloseMs,
        supervisorIntervalMs: settings.supervisorIntervalMs ?? 1000,
        workerName: settings.workerName,
      },
      (host) => this.queue(hostQueueName(host)),
      (host) => limits.hostConcurrency(host),
      (host, job, token, signal) => this.processHostJob(host, job, token, signal),
      log,
    );
  }

  /** The queue of that name (shared connection: no extra Redis connection per queue). */
  private queue(name: string): Queue {
    let q = this.#queues.get(name);
    if (q === undefined) {
      q = new Queue(name, { connection: this.redis, prefix: this.settings.prefix });
      q.on('error', (e) => this.log(`queue ${name}: ${e.message}`));
      this.#queues.set(name, q);
    }
    return q;
  }

  /** Starts the planning worker and the host worker supervisor. */
  start(): void {
    const s = this.settings;
    const run = (job: Job, token?: string, signal?: AbortSignal) =>
      this.processPlanJob(job, token, signal ?? new AbortController().signal);
    this.#planWorker = new Worker(PLAN_QUEUE, run, {
      connection: this.redis,
      prefix: s.prefix,
      name: s.workerName,
      concurrency: 4,
      lockDuration: s.lockDurationMs,
      stalledInterval: s.stalledIntervalMs,
      removeOnComplete: KEEP_DONE,
      removeOnFail: KEEP_FAILED,
    });
    this.#planWorker.on('error', (e) => this.log(`plan worker: ${e.message}`));
    this.#hostWorkers.start();
  }

  /**
   * Creates or updates a policy's job scheduler; a disabled policy loses it. An unchanged one is
   * left alone: BullMQ's upsert replaces the scheduler's pending job with the next fire after now,
   * so a replica starting after a fire that found no replica up (its job waiting in Redis) dropped
   * that fire. A changed one is upserted, its overdue fire first enqueued as a plan of its own.
   */
  async syncSchedule(p: {
    name: string;
    cron: string;
    timeZone: string;
    enabled: boolean;
  }): Promise<void> {
    if (!p.enabled) {
      await this.removeSchedule(p.name);
      return;
    }
    const cur = await this.queue(PLAN_QUEUE).getJobScheduler(schedulerId(p.name));
    if (cur !== undefined && this.#sameSchedule(cur, p)) {
      return;
    }
    if (cur?.next !== undefined && cur.next <= Date.now()) {
      await this.enqueuePlan(p.name, cur.next);
    }
    await this.#upsertSchedule(p);
  }

  /** Whether a stored scheduler fires as `p` does, with this replica's retry settings. */
  #sameSchedule(cur: JobSchedulerJson, p: { cron: string; timeZone: string }): boolean {
    const opts = cur.template?.opts;
    const backoff = opts?.backoff;
    return (
      cur.pattern === p.cron &&
      cur.tz === p.timeZone &&
      opts?.attempts === this.settings.attempts &&
      typeof backoff === 'object' &&
      backoff.delay === this.settings.backoffMs
    );
  }

  async #upsertSchedule(p: { name: string; cron: string; timeZone: string }): Promise<void> {
    try {
      await this.queue(PLAN_QUEUE).upsertJobScheduler(
        schedulerId(p.name),
        { pattern: p.cron, tz: p.timeZone },
        {
          name: 'plan',
          data: { policy: p.name },
          // a fire whose planning failed on a database or Redis blip is planned again (its
          // backup jobs have ids of their own fire, so a retry adds none twice), not lost
          opts: {
            removeOnComplete: KEEP_DONE,
            attempts: this.settings.attempts,
            backoff: { type: 'exponential', delay: this.settings.backoffMs },
          },
        },
      );
    } catch (e) {
      const msg = `policy ${p.name}: cron "${p.cron}" in ${p.timeZone} refused: ${String(e)}`;
      throw new ControllerError('POLICY_INVALID', msg, { cause: e, retryable: false });
    }
  }

  /** Removes a policy's job scheduler (no-op when none). */
  async removeSchedule(policy: string): Promise<void> {
    await this.queue(PLAN_QUEUE).removeJobScheduler(schedulerId(policy));
  }

  /** Policies with a job scheduler, with their next fire time. */
  async listSchedules(): Promise<{ policy: string; next: number | null }[]> {
    const all = await this.queue(PLAN_QUEUE).getJobSchedulers(0, -1, true);
    return all.map((s) => ({ policy: s.key.replace(/^policy\./, ''), next: s.next ?? null }));
  }

  /** Sets a host queue's global concurrency (all replicas together). */
  async setHostConcurrency(host: string, n: number): Promise<void> {
    await this.queue(hostQueueName(host)).setGlobalConcurrency(n);
  }

  /** A host queue's global concurrency, or null when none is set. */
  async hostConcurrency(host: string): Promise<number | null> {
    return this.queue(hostQueueName(host)).getGlobalConcurrency();
  }

  private jobOptions(id: string, delayMs = 0): JobsOptions {
    return {
      jobId: id,
      attempts: this.settings.attempts,
      backoff: { type: 'exponential', delay: this.settings.backoffMs },
      removeOnComplete: KEEP_DONE,
      removeOnFail: KEEP_FAILED,
      ...(delayMs > 0 ? { delay: delayMs } : {}),
    };
  }

  /**
   * Enqueues a backup on a host's queue under its deterministic id; an existing job of that id
   * (a double fire) is left as it is. Returns the id.
   */
  async enqueueBackup(host: string, data: BackupJobData): Promise<string> {
    const id = backupJobId(data);
    await this.queue(hostQueueName(host)).add('backup', data, this.jobOptions(id));
    await this.#hostWorkers.markBusy(host);
    void this.#hostWorkers.tick();
    return id;
  }

  /**
   * Hands a backup job to `host`'s queue under its own id (a re-route). A finished job of that
   * id there, left from the domain's earlier stay on that host (moved A to B and back before the
   * job ran), is replaced: BullMQ ignores an add under an id it still keeps, and the job was lost.
   */
  async rerouteBackup(host: string, data: BackupJobData): Promise<string> {
    const id = backupJobId(data);
    const old = await this.queue(hostQueueName(host)).getJob(id);
    const state = await old?.getState();
    if (old !== undefined && (state === 'completed' || state === 'failed')) {
      await old.remove();
    }
    return this.enqueueBackup(host, data);
  }

  /** Enqueues a prune (on the domain's host) or a GC (host null: the plan queue). */
  async enqueueMaintenance(
    host: string | null,
    data: MaintenanceJobData,
    id: string,
    delayMs = 0,
  ): Promise<string> {
    const queue = host === null ? PLAN_QUEUE : hostQueueName(host);
    await this.queue(queue).add(data.kind, data, this.jobOptions(id, delayMs));
    if (host !== null) {
      await this.#hostWorkers.markBusy(host);
      void this.#hostWorkers.tick();
    }
    return id;
  }

  /** Enqueues the planning of a policy now (a manual run), deduplicated per fire time. */
  async enqueuePlan(policy: string, fireTime: number): Promise<string> {
    const id = planJobId(policy, fireTime);
    const opts = { ...this.jobOptions(id), attempts: 1 };
    await this.queue(PLAN_QUEUE).add('plan', { policy, fireTime }, opts);
    return id;
  }

  /** Jobs of a host's queue (or of the plan queue, for `null`), every state. */
  async listJobs(host: string | null): Promise<QueuedJob[]> {
    const q = this.queue(host === null ? PLAN_QUEUE : hostQueueName(host));
    const jobs = await q.getJobs([
      'wait',
      'active',
      'delayed',
      'prioritized',
      'completed',
      'failed',
    ]);
    return Promise.all(
      jobs.map(async (j) => ({
        id: j.id ?? '',
        name: j.name,
        state: await j.getState(),
        data: j.data as unknown,
        attemptsMade: j.attemptsMade,
        attempts: j.opts.attempts ?? 1,
        returnValue: j.returnvalue as unknown,
      })),
    );
  }

  /** Jobs waiting, running and delayed in each host's queue (for `/metrics`). */
  async depths(
    hosts: readonly string[],
  ): Promise<{ host: string; waiting: number; active: number; delayed: number }[]> {
    return Promise.all(
      hosts.map(async (host) => {
        const c = await this.queue(hostQueueName(host)).getJobCounts(
          'wait',
          'prioritized',
          'active',
          'delayed',
        );
        return {
          host,
          waiting: (c['wait'] ?? 0) + (c['prioritized'] ?? 0),
          active: c['active'] ?? 0,
          delayed: c['delayed'] ?? 0,
        };
      }),
    );
  }

  /** Hosts with an open worker on this replica (the on-demand design, for tests and metrics). */
  openWorkerHosts(): string[] {
    return this.#hostWorkers.openHosts();
  }

  private context(job: Job, signal: AbortSignal): JobContext {
    return {
      id: job.id ?? '',
      attempt: job.attemptsMade + 1,
      signal,
      progress: (p) => job.updateProgress(p),
    };
  }

  private async processPlanJob(job: Job, _token: string | undefined, signal: AbortSignal) {
    const ctx = this.context(job, signal);
    return guard(async () => {
      if (job.name === 'gc') {
        return this.handlers.maintenance(null, job.data as MaintenanceJobData, ctx);
      }
      const data = job.data as { policy: string; fireTime?: number };
      // A scheduler's job carries its fire time as `prevMillis` (also in its id).
      const fire = data.fireTime ?? job.opts.prevMillis ?? job.timestamp;
      await this.handlers.plan(data.policy, fire, ctx);
      return { policy: data.policy, fireTime: fire };
    });
  }

  private async processHostJob(
    host: string,
    job: Job,
    token: string | undefined,
    signal: AbortSignal,
  ): Promise<unknown> {
    const ctx = this.context(job, signal);
    if (job.name !== 'backup') {
      return guard(() => this.handlers.maintenance(host, job.data as MaintenanceJobData, ctx));
    }
    const data = job.data as BackupJobData;
    try {
      return await this.backupInSlot(host, data, ctx, job, token);
    } catch (e) {
      if (isWaitRefusal(e)) {
        await waitForDomain(job, token, data);
      }
      if (signal.aborted && signal.reason === SHUTTING_DOWN) {
        // cancelled by this replica's stop, not failed: another replica (or this one, restarted)
        // takes it up without an attempt spent; rolling restarts spent all three
        await job.moveToDelayed(Date.now() + 1000, token);
        throw new DelayedError();
      }
      throw e;
    }
  }

  /** Runs a backup job within its repository's limit (delayed while the repository is full). */
  private async backupInSlot(
    host: string,
    data: BackupJobData,
    ctx: JobContext,
    job: Job,
    token: string | undefined,
  ): Promise<unknown> {
    const limit = this.limits.repoConcurrency(data.repository);
    const work = () => guard(() => this.handlers.backup(host, data, ctx));
    if (limit === null) {
      return work();
    }
    const held = await this.#leases.withSlot(data.repository, `${ctx.id}@${host}`, limit, work);
    if (held === null) {
      // Repository full: wait without spending an attempt.
      await job.moveToDelayed(Date.now() + (this.settings.repoRetryMs ?? 5000), token);
      throw new DelayedError();
    }
    return held.value;
  }

  /** Stops workers (running jobs get `graceMs`, then their signals abort) and closes queues. */
  async stop(graceMs: number): Promise<void> {
    await Promise.all([
      this.#hostWorkers.stop(graceMs),
      this.#planWorker ? closeWorker(this.#planWorker, graceMs) : Promise.resolve(),
    ]);
    await Promise.all([...this.#queues.values()].map((q) => q.close()));
    this.#queues.clear();
  }
}
