/**
 * Workers of the per-host backup queues, created on demand. A BullMQ worker holds one blocking
 * Redis connection of its own even when it shares the main one (measured: docs/architecture.md
 * section 10), so a replica cannot keep one per host of a 500-host fleet. Producers add the host
 * to a Redis set of busy hosts after adding a job; every replica opens workers for busy hosts and
 * closes a worker idle for a while when the queue has no waiting, delayed or active job left.
 */
import { type Job, type Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';

import { hostQueueName } from './job-ids.js';

/** Settings of the host workers. */
export interface HostWorkerSettings {
  /** Redis key prefix. */
  prefix: string;
  /** Job lock. */
  lockDurationMs: number;
  /** Stalled-job check period. */
  stalledIntervalMs: number;
  /** Close a worker idle this long when its queue is empty. */
  idleCloseMs: number;
  /** How often the busy set is read. */
  supervisorIntervalMs: number;
  /** Worker name (the replica). */
  workerName: string;
}

/** Processes one job of one host's queue. */
export type HostJobProcessor = (
  host: string,
  job: Job,
  token: string | undefined,
  signal: AbortSignal,
) => Promise<unknown>;

interface Entry {
  worker: Worker;
  running: number;
  idleSince: number | null;
}

const WORK_STATES = ['wait', 'active', 'delayed', 'prioritized'] as const;

/** On-demand workers for the host queues of this replica. */
export class HostWorkers {
  readonly #workers = new Map<string, Entry>();
  #timer: NodeJS.Timeout | undefined;
  #ticking: Promise<void> | null = null;
  #stopped = false;

  /**
   * @param redis shared non-blocking connection (workers duplicate it for their blocking reads)
   * @param settings timings and names
   * @param queueOf the (shared-connection) queue of a host, for job counts
   * @param concurrencyOf the host's backup limit
   * @param processor the work
   * @param log one line per notable event
   */
  constructor(
    private readonly redis: Redis,
    private readonly settings: HostWorkerSettings,
    private readonly queueOf: (host: string) => Queue,
    private readonly concurrencyOf: (host: string) => number,
    private readonly processor: HostJobProcessor,
    private readonly log: (line: string) => void,
  ) {}

  private get busyKey(): string {
    return `${this.settings.prefix}:vv:busy-hosts`;
  }

  /** Marks a host as having work; call after adding a job to its queue. */
  async markBusy(host: string): Promise<void> {
    await this.redis.sadd(this.busyKey, host);
  }

  /** Hosts with an open worker on this replica. */
  openHosts(): string[] {
    return [...this.#workers.keys()];
  }

  /** Starts supervising. */
  start(): void {
    this.#timer = setInterval(() => void this.tick(), this.settings.supervisorIntervalMs);
    void this.tick();
  }

  /** One supervision round (also called right after enqueueing). */
  tick(): Promise<void> {
    this.#ticking ??= this.round()
      .catch((e: unknown) => this.log(`host workers: ${String(e)}`))
      .finally(() => {
        this.#ticking = null;
      });
    return this.#ticking;
  }

  private async round(): Promise<void> {
    if (this.#stopped) {
      return;
    }
    const busy = await this.redis.smembers(this.busyKey);
    for (const host of busy) {
      if (!this.#workers.has(host) && !this.#stopped) {
        this.open(host);
      }
    }
    const now = Date.now();
    for (const [host, e] of this.#workers) {
      if (
        e.running === 0 &&
        e.idleSince !== null &&
        now - e.idleSince >= this.settings.idleCloseMs
      ) {
        await this.closeIfEmpty(host, e);
      }
    }
  }

  private open(host: string): void {
    const s = this.settings;
    const entry: Entry = {
      worker: undefined as unknown as Worker,
      running: 0,
      idleSince: Date.now(),
    };
    // Three parameters: BullMQ hands the processor an AbortSignal only then.
    const run = (job: Job, token?: string, signal?: AbortSignal) =>
      this.run(host, entry, job, token, signal ?? new AbortController().signal);
    entry.worker = new Worker(hostQueueName(host), run, {
      connection: this.redis,
      prefix: s.prefix,
      name: s.workerName,
      concurrency: this.concurrencyOf(host),
      lockDuration: s.lockDurationMs,
      stalledInterval: s.stalledIntervalMs,
      maxStalledCount: 3,
    });
    // A lost lock means another replica may take the job over: stop ours (the agent cleans up).
    entry.worker.on('lockRenewalFailed', (ids) => {
      for (const id of ids) {
        entry.worker.cancelJob(id, 'job lock lost');
      }
    });
    entry.worker.on('error', (e) => this.log(`worker ${host}: ${e.message}`));
    this.#workers.set(host, entry);
  }

  private async run(
    host: string,
    e: Entry,
    job: Job,
    token: string | undefined,
    signal: AbortSignal,
  ): Promise<unknown> {
    e.running++;
    e.idleSince = null;
    try {
      return await this.processor(host, job, token, signal);
    } finally {
      e.running--;
      if (e.running === 0) {
        e.idleSince = Date.now();
      }
    }
  }

  private async pending(host: string): Promise<number> {
    const counts = await this.queueOf(host).getJobCounts(...WORK_STATES);
    return Object.values(counts).reduce((a, b) => a + b, 0);
  }

  /** Closes an idle worker unless its queue still has work; never strands a new job. */
  private async closeIfEmpty(host: string, e: Entry): Promise<void> {
    if ((await this.pending(host)) > 0) {
      e.idleSince = Date.now();
      return;
    }
    await this.redis.srem(this.busyKey, host);
    // A job added between the count and the removal re-added the host after adding itself;
    // a job added before the removal is seen by this second count.
    if ((await this.pending(host)) > 0) {
      await this.redis.sadd(this.busyKey, host);
      e.idleSince = Date.now();
      return;
    }
    this.#workers.delete(host);
    await e.worker.close();
  }

  /** Closes every worker: running jobs get `graceMs` to finish, then their signals abort. */
  async stop(graceMs: number): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    await this.#ticking;
    const entries = [...this.#workers.values()];
    this.#workers.clear();
    await Promise.all(entries.map((e) => closeWorker(e.worker, graceMs)));
  }
}

/** The reason a replica's stop cancels its running jobs with (they are put back, not failed). */
export const SHUTTING_DOWN = 'controller shutting down';

/** Closes a worker, cancelling its running jobs after `graceMs`. */
export async function closeWorker(worker: Worker, graceMs: number): Promise<void> {
  const closing = worker.close();
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => resolve('late'), graceMs);
  });
  if ((await Promise.race([closing.then(() => 'closed' as const), late])) === 'late') {
    worker.cancelAllJobs(SHUTTING_DOWN);
  }
  clearTimeout(timer);
  await closing;
}
