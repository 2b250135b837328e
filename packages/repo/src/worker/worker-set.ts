/**
 * The chunk workers themselves: spawning them, handing them jobs, matching their answers, and
 * replacing one that crashed. What the jobs are, and the arena their payloads travel through,
 * is `pool.ts`'s.
 */
import { Worker } from 'node:worker_threads';

import { RepoError } from '../errors.js';
import type { ChunkJob, ChunkJobResult, RenameJob, RenameJobResult } from './chunk-job.js';
import type { CheckJob, CheckJobResult, ResolveJob, ResolveJobResult } from './chunk-reader.js';
import type { PackJob, PackJobResult } from './pack-job.js';
import { workerError } from './worker-error.js';

/** Any job a chunk worker runs. */
export type Job = ChunkJob | PackJob | RenameJob | ResolveJob | CheckJob;
/** Any job's answer. */
export type JobResult =
  ChunkJobResult | PackJobResult | RenameJobResult | ResolveJobResult | CheckJobResult;
type Reply = JobResult | { id: number; error: { message: string; code?: unknown } };

interface Pending {
  job: Job;
  resolve: (r: JobResult) => void;
  reject: (e: Error) => void;
}

/** Jobs sent to a worker at once (one running, one waiting in its port). */
const DEPTH = 2;

/** A fixed number of chunk workers and the jobs queued for them. */
export class WorkerSet {
  /** Every live worker, with the jobs sent to it and not yet answered (in order). */
  readonly #sent = new Map<Worker, Pending[]>();
  readonly #queue: Pending[] = [];
  #open = true;

  /**
   * Spawns the workers.
   * @param size how many
   * @param workerData what each worker starts with (see `hash-worker.ts`)
   */
  constructor(
    readonly size: number,
    private readonly workerData: unknown,
  ) {
    for (let i = 0; i < size; i++) {
      this.#sent.set(this.#spawn(), []);
    }
  }

  /** Runs `job` on a worker; rejects with `REPO_CLOSED` once closed. */
  run(job: Job): Promise<JobResult> {
    if (!this.#open) {
      return Promise.reject(new RepoError('REPO_CLOSED', 'chunk pool closed'));
    }
    return new Promise((resolve, reject) => {
      this.#queue.push({ job, resolve, reject });
      this.#pump();
    });
  }

  /** Stops the workers; queued and unanswered jobs fail with `REPO_CLOSED`. Idempotent. */
  async close(): Promise<void> {
    if (!this.#open) {
      return;
    }
    this.#open = false;
    for (const p of this.#queue.splice(0)) {
      p.reject(new RepoError('REPO_CLOSED', 'chunk pool closed'));
    }
    const all = [...this.#sent.keys()];
    // jobs a worker had not answered end with it (a settled one ignores this)
    for (const p of [...this.#sent.values()].flat()) {
      p.reject(new RepoError('REPO_CLOSED', 'chunk pool closed'));
    }
    this.#sent.clear();
    await Promise.all(all.map((w) => w.terminate()));
  }

  /**
   * Sends queued jobs to the least loaded worker, up to {@link DEPTH} each: a worker that finds its
   * next job waiting when it answers does not sleep, and waking a sleeping thread is what a job's
   * hand-off costs most on a paravirtualised machine.
   */
  #pump(): void {
    while (this.#queue.length > 0) {
      let best: [Worker, Pending[]] | null = null;
      for (const e of this.#sent) {
        if (e[1].length < DEPTH && (best === null || e[1].length < best[1].length)) {
          best = e;
        }
      }
      const p = best === null ? undefined : this.#queue.shift();
      if (best === null || p === undefined) {
        return;
      }
      best[1].push(p);
      best[0].postMessage(p.job);
    }
  }

  #spawn(): Worker {
    const w = new Worker(new URL('./hash-worker.js', import.meta.url), {
      workerData: this.workerData,
    });
    w.on('message', (r: Reply) => this.#done(w, r));
    w.on('error', (e) => this.#failed(w, e));
    return w;
  }

  #done(w: Worker, r: Reply): void {
    const sent = this.#sent.get(w) ?? [];
    const at = sent.findIndex((p) => p.job.id === r.id);
    const p = at < 0 ? undefined : sent.splice(at, 1)[0];
    if (p !== undefined) {
      if ('error' in r) {
        p.reject(workerError(r.error));
      } else {
        p.resolve(r);
      }
    }
    this.#pump();
  }

  #failed(w: Worker, e: Error): void {
    const sent = this.#sent.get(w) ?? [];
    this.#sent.delete(w);
    for (const p of sent) {
      p.reject(new RepoError('REPO_WORKER_FAILED', 'chunk worker crashed', { cause: e }));
    }
    if (this.#open) {
      // Replace the dead worker so the pool keeps its size.
      this.#sent.set(this.#spawn(), []);
      this.#pump();
    }
  }
}
