import os from 'node:os';

import { Semaphore } from '@virtvault/core';

import { RepoError } from '../errors.js';
import { CHUNK_HEADER_BYTES, type ChunkHash, type ChunkKind } from '../format/constants.js';
import { Arena, arenaShape, regionView } from './arena.js';
import type { ChunkJob, ChunkJobResult, StoredChunk } from './chunk-job.js';
import type { CheckJobResult, ResolveJob, ResolveJobResult } from './chunk-reader.js';
import type { PackJob, PackJobResult } from './pack-job.js';
import type { PatchStart } from './slot-entry.js';
import { type Job, type JobResult, WorkerSet } from './worker-set.js';

/** What {@link ChunkPool.runPatch} stores: new ranges over a patch's base and old ranges. */
export interface PatchRequest {
  /** The new ranges (sorted, non-overlapping), with their bytes. */
  ranges: { slotOffset: number; data: Uint8Array }[];
  /** The slot's current entry, which the patch replaces. */
  current: string;
  /** The slot's length. */
  slotLength: number;
  /** Compaction limits. */
  limits: PackJob['limits'];
}

/**
 * What {@link ChunkPool.runPatch} gives: the stored patch and its new ranges' data chunk (null when
 * they are all zeros), or (nothing stored) the base and old ranges the caller compacts the slot
 * from, because the merged patch would exceed the limits.
 */
export type PatchResult =
  { patch: StoredChunk; data: StoredChunk | null } | { compact: PatchStart };

/** A restore's slot resolved by a worker (see {@link ChunkPool.resolve}). */
export interface ResolvedSlot {
  /** The slot's bytes, in an arena region: valid until {@link release}. */
  data: Buffer;
  /** Its non-zero runs (written already when the job was given a file). */
  runs: ResolveJobResult['runs'];
  /** Gives the region back; idempotent. */
  release(): void;
}

/** Regions lent to callers: a few disks' worth of slots being read at once. */
const LENDABLE = 8;
/** The arena's regions hold at least this much (patch payloads may exceed tiny test slots). */
const MIN_REGION_PAYLOAD = 256 * 1024;

/** Options of a {@link ChunkPool}. */
export interface ChunkPoolOptions {
  /** Repository root. */
  root: string;
  /** zstd level (0 = store raw). */
  level: number;
  /** The largest payload (the repository's slot size). */
  maxPayload: number;
  /** The repository's digest algorithm. */
  hash: ChunkHash;
  /** Worker count; defaults to the number of cores. */
  workers?: number;
}

/**
 * A pool of worker threads that hash, compress and store chunks. Each worker runs one job at a
 * time with one more sent ahead; extra jobs queue in its {@link WorkerSet}, so callers bound
 * memory with {@link ChunkPool.capacity}. Payloads travel through a shared arena: callers may fill
 * a lent region ({@link ChunkPool.takeBuffer}) so nothing is copied; other payloads are copied
 * into a staging region.
 */
export class ChunkPool {
  readonly #opts: ChunkPoolOptions;
  #workers: WorkerSet | null = null;
  #arena: Arena | null = null;
  #packPermits: Semaphore | null = null;
  #nextId = 1;
  #open = false;

  /** @param opts pool options */
  constructor(opts: ChunkPoolOptions) {
    this.#opts = opts;
  }

  /** Suggested number of jobs in flight: two per worker keeps every worker busy. */
  get capacity(): number {
    return this.#size() * 2;
  }

  /** Starts the workers. */
  open(): void {
    if (this.#open) {
      return;
    }
    this.#open = true;
    const payload = Math.max(this.#opts.maxPayload, MIN_REGION_PAYLOAD);
    this.#arena = new Arena(arenaShape(payload, LENDABLE + this.capacity), LENDABLE);
    const { root, level, hash } = this.#opts;
    this.#workers = new WorkerSet(this.#size(), { root, level, shape: this.#arena.shape, hash });
  }

  /**
   * A buffer of `length` bytes to fill and then store without a copy (its region is lent), or a
   * plain buffer when all lent regions are in use. Give it back with {@link giveBuffer} once the
   * store resolved. Its content is undefined.
   */
  takeBuffer(length: number): Buffer {
    return this.#arena?.lend(length) ?? Buffer.allocUnsafe(length);
  }

  /** Gives back a buffer from {@link takeBuffer}. */
  giveBuffer(b: Uint8Array): void {
    this.#arena?.unlend(b);
  }

  /**
   * Hashes, compresses and stores `payload`. A lent buffer is used in place (the caller must not
   * touch it until this resolves); anything else is copied, so the caller keeps its buffer.
   */
  async run(
    kind: ChunkKind,
    payload: Uint8Array,
    nowMs: number,
    detectZero: boolean,
  ): Promise<ChunkJobResult> {
    const length = payload.length;
    const lent = this.#arena?.regionOf(payload) ?? null;
    return this.#staged(
      length,
      lent,
      (view) => view.set(payload),
      (id, region) => ({
        id,
        kind,
        region,
        length,
        nowMs,
        detectZero,
      }),
    ) as Promise<ChunkJobResult>;
  }

  /**
   * Stores one patch and its new ranges' data chunk: a pack of one slot (see `pack-job.ts`).
   * Ranges laid end to end in a lent buffer ({@link takeBuffer}) are used in place; others are
   * copied.
   */
  async runPatch(req: PatchRequest, nowMs: number): Promise<PatchResult> {
    const total = req.ranges.reduce((n, r) => n + r.data.length, 0);
    const fill = (view: Buffer): void => {
      let at = 0;
      for (const r of req.ranges) {
        view.set(r.data, at);
        at += r.data.length;
      }
    };
    let at = 0;
    const ranges = req.ranges.map((r) => {
      const range = { slotOffset: r.slotOffset, length: r.data.length, at };
      at += r.data.length;
      return range;
    });
    const slot = { current: req.current, slotLength: req.slotLength, ranges };
    const job = (id: number, region: number): PackJob => {
      return { id, type: 'pack', region, length: total, slots: [slot], limits: req.limits, nowMs };
    };
    const lent = this.#packedRegion(req.ranges);
    const r = (await this.#staged(total, lent, fill, job)) as PackJobResult;
    const s = r.slots[0];
    if (s === undefined) {
      throw new RepoError('REPO_WORKER_FAILED', 'a patch job answered for no slot');
    }
    return 'compact' in s ? s : { patch: s.patch, data: r.data };
  }

  /**
   * A staging region held by the caller to fill (a pack of patches, see {@link runPack}), with its
   * payload view; waits while every staging region is busy. Give it back with {@link releaseRegion}.
   * There are {@link capacity} staging regions.
   */
  async holdRegion(): Promise<{ region: number; payload: Buffer }> {
    const arena = this.#arena;
    if (!this.#open || arena === null) {
      throw new RepoError('REPO_CLOSED', 'chunk pool is closed');
    }
    const region = await arena.stage();
    return { region, payload: arena.view(region, arena.shape.regionBytes - CHUNK_HEADER_BYTES) };
  }

  /**
   * Permits for staging regions held by packs being filled (see `patch-packs.ts`), shared by every
   * writer of the pool: one fewer than the staging regions, so that staged jobs always find one
   * however many backups write through this pool at once (an agent runs several into one
   * repository).
   */
  get packPermits(): Semaphore {
    this.#packPermits ??= new Semaphore(Math.max(1, this.capacity - 1));
    return this.#packPermits;
  }

  /** Gives back a region from {@link holdRegion}. */
  releaseRegion(region: number): void {
    this.#arena?.unstage(region);
  }

  /** Stores a pack held in a region from {@link holdRegion} (see `pack-job.ts`). */
  runPack(job: Omit<PackJob, 'id' | 'type'>): Promise<PackJobResult> {
    const id = this.#nextId++;
    return this.#enqueue({ ...job, id, type: 'pack' }) as Promise<PackJobResult>;
  }

  /**
   * Renames every `[from, to]` pair, spread over the workers (see `RenameJob`); resolves once all
   * are renamed. A failure rejects after every part has ended, so no rename runs on afterwards.
   */
  async rename(pairs: readonly [string, string][]): Promise<void> {
    const parts = Math.min(this.#size(), pairs.length);
    const each = Math.ceil(pairs.length / Math.max(parts, 1));
    const jobs: Promise<JobResult>[] = [];
    for (let at = 0; at < pairs.length; at += each) {
      const part = pairs.slice(at, at + each);
      jobs.push(this.#enqueue({ id: this.#nextId++, type: 'rename', pairs: part }));
    }
    const failed = (await Promise.allSettled(jobs)).find((r) => r.status === 'rejected');
    if (failed !== undefined) {
      throw failed.reason;
    }
  }

  /**
   * Resolves one slot of a restore in a worker (see `ResolveJob`): its bytes land in an arena
   * region, every chunk verified on the way. With `write`, the worker also writes the slot's data
   * runs into that file. Regions are few, so the caller must `release()` each slot once done.
   */
  async resolve(
    digest: string,
    slotLength: number,
    write: ResolveJob['write'],
  ): Promise<ResolvedSlot> {
    const arena = this.#arena;
    if (!this.#open || arena === null) {
      throw new RepoError('REPO_CLOSED', 'chunk pool is closed');
    }
    if (slotLength > arena.shape.regionBytes) {
      throw new RepoError('REPO_BAD_ARGUMENT', `a slot of ${slotLength} bytes is too large`);
    }
    const region = await arena.claim();
    let held = true;
    const release = (): void => {
      if (held) {
        held = false;
        arena.release(region);
      }
    };
    try {
      const job: ResolveJob = {
        id: this.#nextId++,
        type: 'resolve',
        region,
        digest,
        slotLength,
        write,
      };
      const r = (await this.#enqueue(job)) as ResolveJobResult;
      return {
        data: regionView(arena.shape, region).subarray(0, slotLength),
        runs: r.runs,
        release,
      };
    } catch (e) {
      release();
      throw e;
    }
  }

  /**
   * Reads and verifies one chunk in a worker (see `CheckJob`): resolves to what it is (a data
   * chunk's length, a patch's slot length, base and ranges) or to its fault; rejects only when
   * the pool fails.
   */
  async check(digest: string): Promise<CheckJobResult> {
    return (await this.#enqueue({ id: this.#nextId++, type: 'check', digest })) as CheckJobResult;
  }

  /**
   * The lent region whose payload holds `ranges`' bytes end to end from its start (so the job can
   * use it in place), or null.
   */
  #packedRegion(ranges: PatchRequest['ranges']): number | null {
    const first = ranges[0]?.data;
    const region = first === undefined ? null : (this.#arena?.regionOf(first) ?? null);
    if (first === undefined || region === null) {
      return null;
    }
    let at = first.byteOffset;
    for (const r of ranges) {
      if (r.data.buffer !== first.buffer || r.data.byteOffset !== at) {
        return null;
      }
      at += r.data.length;
    }
    return region;
  }

  /**
   * Runs a job over `bytes` bytes held in region `lent`, or copied by `fill` into a staging region
   * (waiting for one) that is given back when the job ends.
   */
  async #staged(
    bytes: number,
    lent: number | null,
    fill: (view: Buffer) => void,
    job: (id: number, region: number) => ChunkJob | PackJob,
  ): Promise<JobResult> {
    const arena = this.#arena;
    if (!this.#open || arena === null) {
      throw new RepoError('REPO_CLOSED', 'chunk pool is closed');
    }
    if (bytes > arena.shape.regionBytes - CHUNK_HEADER_BYTES) {
      throw new RepoError('REPO_BAD_ARGUMENT', `a payload of ${bytes} bytes is too large`);
    }
    const region = lent ?? (await arena.stage());
    try {
      if (lent === null) {
        fill(arena.view(region, bytes));
      }
      return await this.#enqueue(job(this.#nextId++, region));
    } finally {
      if (lent === null) {
        arena.unstage(region);
      }
    }
  }

  #enqueue(job: Job): Promise<JobResult> {
    if (this.#workers === null) {
      // closed while this job waited for a staging region
      return Promise.reject(new RepoError('REPO_CLOSED', 'chunk pool closed'));
    }
    return this.#workers.run(job);
  }

  /** Stops the workers; queued jobs fail with `REPO_CLOSED`. Idempotent. */
  async close(): Promise<void> {
    if (!this.#open) {
      return;
    }
    this.#open = false;
    const workers = this.#workers;
    this.#workers = null;
    await workers?.close();
  }

  #size(): number {
    // one per core: twice as many (to overlap fsyncs) measured no faster and cost ~80 MiB RSS
    return Math.max(1, this.#opts.workers ?? os.availableParallelism());
  }
}
