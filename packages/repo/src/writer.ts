import { promises as fsp } from 'node:fs';
import path from 'node:path';

import { Semaphore, type SnapshotManifest } from '@virtvault/core';

import { isErrno, RepoError } from './errors.js';
import { ChunkKind, PATCH_MAX_RANGES, ZERO_DIGEST_HEX } from './format/constants.js';
import { DiskIndex } from './format/index-file.js';
import { Lease } from './lease.js';
import { checkRanges, compactedSlot, type PatchLimits, type SlotRange } from './patch-writer.js';
import { type PackHost, PACKED_UP_TO, PatchPacks } from './patch-packs.js';
import { NewChunks } from './new-chunks.js';
import { refuseQuarantined, unresolvedQuarantine } from './quarantine.js';
import type { Repository } from './repository.js';
import type { StoredChunk } from './worker/chunk-job.js';
import type { PatchStart } from './worker/slot-entry.js';
import { checkDiskTarget, checkDomainUuid, checkSnapshotId } from './validate.js';
import { defaultSnapshotId, type DiskState, requireParent, writeSnapshot } from './writer-files.js';
import type { CommitInfo, DiskSpec, PutPatchOptions, WriterOptions } from './writer-types.js';

export type { CommitInfo, DiskSpec, PutPatchOptions, WriterOptions } from './writer-types.js';

/**
 * Writes one snapshot. `open()` takes a writer lease and creates the snapshot folder; disks start
 * empty or from the parent's index; slots are stored by hash through the worker pool with bounded
 * memory (callers may call `put*` concurrently); `commit()` publishes the new chunks (see
 * `publish.ts`), writes indexes, then the manifest last (temp, fsync, rename). `abort()`/`close()`
 * remove the half-written snapshot and its unpublished chunks.
 */
export class SnapshotWriter {
  /** Snapshot id. */
  readonly id: string;
  readonly #repo: Repository;
  readonly #opts: WriterOptions;
  readonly #limits: PatchLimits;
  readonly #disks = new Map<string, DiskState>();
  readonly #news: NewChunks;
  readonly #inflight = new Set<Promise<unknown>>();
  /**
   * A compaction holds about three slots of memory at once (the base, the ranges' chunks, the
   * result), and the patches that turn into compactions were admitted as small buffers: unbounded,
   * an incremental over a long chain of patches compacting many slots at once peaked near 300 MiB.
   */
  readonly #compacting = new Semaphore(2);
  #sem: Semaphore | null = null;
  #packs: PatchPacks<DiskState> | null = null;
  #lease: Lease | null = null;
  #parent: SnapshotManifest | null = null;
  /** Chunks verify set aside that the parent must not reach (read once, at the first disk). */
  #quarantined: Promise<Set<string>> | null = null;
  #state: 'new' | 'open' | 'committed' | 'aborted' = 'new';

  /** @param repo an opened repository @param opts writer options */
  constructor(repo: Repository, opts: WriterOptions) {
    this.#repo = repo;
    this.#opts = opts;
    this.#news = new NewChunks((digest) => repo.chunkPath(digest));
    checkDomainUuid(opts.domain.uuid);
    this.id = checkSnapshotId(opts.snapshotId ?? defaultSnapshotId(repo));
    if (opts.parent != null) {
      checkSnapshotId(opts.parent);
    }
    const limits = { maxCoverage: 0.5, maxRanges: PATCH_MAX_RANGES, ...opts.patchLimits };
    // the format's bound, which readers rely on to tell patches from data chunks by size
    this.#limits = { ...limits, maxRanges: Math.min(limits.maxRanges, PATCH_MAX_RANGES) };
  }

  /** Folder of the snapshot being written. */
  get dir(): string {
    return this.#repo.snapshotDir(this.#opts.domain.uuid, this.id);
  }

  /** Takes the writer lease, creates the snapshot folder and loads the parent manifest. */
  async open(): Promise<void> {
    if (this.#state !== 'new') {
      throw new RepoError('REPO_STATE', `writer ${this.id} already opened`);
    }
    const uuid = this.#opts.domain.uuid;
    const parent = this.#opts.parent ?? null;
    this.#lease = await Lease.acquire(this.#repo, {
      kind: 'writer',
      snapshot: `${uuid}/${this.id}`,
      ...(parent !== null ? { parent: `${uuid}/${parent}` } : {}),
      ...(this.#opts.host !== undefined ? { host: this.#opts.host } : {}),
    });
    try {
      await fsp.mkdir(path.dirname(this.dir), { recursive: true });
      await fsp.mkdir(this.dir);
    } catch (e) {
      await this.#lease.close();
      const code = isErrno(e, 'EEXIST') ? 'REPO_SNAPSHOT_EXISTS' : 'REPO_STATE';
      throw new RepoError(code, `cannot create snapshot ${uuid}/${this.id}`, { cause: e });
    }
    this.#state = 'open';
    this.#sem = new Semaphore(this.#repo.pool().capacity);
    this.#packs = new PatchPacks(this.#packHost(), this.#repo.pool().capacity - 1);
    if (parent !== null) {
      // a writer that failed to open leaves neither its folder nor its lease behind
      this.#parent = await requireParent(this.#repo, this.#opts.domain.uuid, parent).catch(
        async (e: unknown) => {
          await this.abort();
          throw e;
        },
      );
    }
  }

  /** Starts a disk: from the parent's index of the same target (same size) or all-zero. */
  async startDisk(spec: DiskSpec): Promise<void> {
    this.#checkOpen();
    const target = checkDiskTarget(spec.target);
    if (this.#disks.has(target)) {
      throw new RepoError('REPO_BAD_ARGUMENT', `disk ${target} already started`);
    }
    const cs = this.#repo.config.chunkSize;
    let index = new DiskIndex(cs, spec.virtualSize);
    const pd = this.#parent?.disks.find((d) => d.target === target);
    const inherit =
      this.#parent !== null && spec.fromParent !== false && pd?.virtualSize === spec.virtualSize;
    if (inherit && this.#parent !== null) {
      const uuid = this.#opts.domain.uuid;
      index = await this.#repo.readIndex(uuid, this.#parent.id, target, this.#parent);
      this.#quarantined ??= unresolvedQuarantine(this.#repo.root);
      refuseQuarantined(this.#repo, index, await this.#quarantined, {
        snapshot: this.#parent.id,
        target,
      });
      // Publish the inherited digests before using them, so GC marks them even if the parent is
      // pruned meanwhile; then prove the parent still existed after that point.
      await this.#repo.writeAtomic(path.join(this.dir, `${target}.index.base`), index.encode());
      await requireParent(this.#repo, this.#opts.domain.uuid, this.#parent.id);
    }
    this.#disks.set(target, {
      spec,
      index,
      touched: new Set(),
      bytesRead: 0,
      bytesNew: 0,
      inherited: inherit,
    });
  }

  /**
   * Stores a whole slot (`data.length` must equal the slot's length; all-zero data becomes a hole).
   * `opts.bytesRead`: bytes actually read from the source for it (holes are not read); default
   * the slot's length. It is what the manifest reports as read.
   */
  async putSlot(
    target: string,
    slot: number,
    data: Uint8Array,
    opts: { bytesRead?: number } = {},
  ): Promise<void> {
    const d = this.#claim(target, slot);
    if (data.length !== d.index.slotLength(slot)) {
      throw new RepoError(
        'REPO_BAD_ARGUMENT',
        `slot ${slot} of ${target} needs ${d.index.slotLength(slot)} bytes`,
      );
    }
    d.bytesRead += opts.bytesRead ?? data.length;
    d.index.set(slot, await this.#store(d, ChunkKind.data, data));
  }

  /** Marks a slot as zero/unallocated. */
  putZero(target: string, slot: number): Promise<void> {
    this.#claim(target, slot).index.set(slot, ZERO_DIGEST_HEX);
    return Promise.resolve();
  }

  /**
   * Stores new bytes for parts of a slot as a patch over the slot's current content (the parent's
   * entry, or zeros). The ranges' bytes of a small patch are copied into a pack shared with other
   * slots' (see `patch-packs.ts`); a larger patch's become one data chunk of its own, stored with
   * the patch in one worker job, without a copy when laid end to end in one buffer from
   * {@link takeBuffer} (their bytes are undefined afterwards). Too wide or too many ranges:
   * compacted. With `opts.overZero` the rest of the slot is zeros whatever it held: a sparse slot
   * (little data, much hole) costs its data, not a whole slot of mostly zeros.
   * `opts.bytesRead` as for {@link putSlot}; default the ranges' total length. `opts.whole`, when
   * given, reads the slot's current bytes from the source: a compaction then stores those instead
   * of reading the base and every old range's chunk back from the repository. A packed patch is
   * stored later: call {@link flushDisk} before the source goes away; its failure is reported by a
   * later put, `flushDisk` or `commit`.
   */
  async putPatch(
    target: string,
    slot: number,
    ranges: readonly SlotRange[],
    opts: PutPatchOptions = {},
  ): Promise<void> {
    const d = this.#claim(target, slot);
    const len = d.index.slotLength(slot);
    const news = checkRanges(ranges, len);
    const bytes = news.reduce((n, r) => n + r.data.length, 0);
    d.bytesRead += opts.bytesRead ?? bytes;
    const current = opts.overZero === true ? ZERO_DIGEST_HEX : d.index.get(slot);
    const packs = this.#packs;
    if (packs !== null && bytes <= PACKED_UP_TO) {
      return packs.add(d, slot, { current, slotLength: len, ranges: news, whole: opts.whole });
    }
    const req = {
      ranges: news.map((r) => ({ slotOffset: r.offsetInSlot, data: r.data })),
      current,
      slotLength: len,
      limits: this.#limits,
    };
    const stored = await this.#track(() =>
      this.#repo.pool().runPatch(req, this.#repo.options.now()),
    );
    if ('compact' in stored) {
      await this.#compact(d, slot, stored.compact, news, opts.whole);
      return;
    }
    if (stored.data !== null) {
      await this.#record(d, stored.data);
    }
    await this.#record(d, stored.patch);
    d.index.set(slot, stored.patch.digest);
  }

  /**
   * Stores `target`'s patches still waiting in a pack and waits until all of them are stored (and
   * compacted); throws the first failure. Call it before a source that `putPatch`'s `whole`
   * reads from is closed.
   */
  async flushDisk(target: string): Promise<void> {
    this.#checkOpen();
    const d = this.#disks.get(target);
    if (d === undefined) {
      throw new RepoError('REPO_BAD_ARGUMENT', `disk ${target} not started`);
    }
    await this.#packs?.settle(d);
  }

  /**
   * A buffer of `length` bytes that {@link putSlot} stores without copying it; its content is
   * undefined. Give it back with {@link giveBuffer} once `putSlot` resolved.
   */
  takeBuffer(length: number): Buffer {
    return this.#repo.pool().takeBuffer(length);
  }

  /** Gives back a buffer from {@link takeBuffer}. */
  giveBuffer(b: Uint8Array): void {
    this.#repo.pool().giveBuffer(b);
  }

  /**
   * Publishes the new chunks, writes the indexes, then the manifest last (temp, fsync, rename);
   * releases the lease.
   */
  async commit(info: CommitInfo): Promise<SnapshotManifest> {
    this.#checkOpen();
    this.#packs?.flush();
    await Promise.allSettled([...this.#inflight]);
    this.#packs?.check();
    const pool = this.#repo.pool();
    await this.#news.publish(this.#repo.root, (pairs) => pool.rename(pairs));
    const manifest = await writeSnapshot(this.#repo, this.dir, this.#disks, this.#lease, {
      format: 'virtvault-snapshot',
      version: 1,
      id: this.id,
      domain: { ...this.#opts.domain },
      parent: this.#opts.parent ?? null,
      ...info,
    });
    this.#state = 'committed';
    // The snapshot is committed: a failure to tidy up now must not make it look failed (its
    // caller would drop the new checkpoint of a snapshot that exists). A base index left behind
    // only keeps chunks for GC, a lease left behind expires.
    await this.#cleanupAfterCommit().catch(() => undefined);
    return manifest;
  }

  /** The virtual size disk `target` was started with. Throws `REPO_BAD_ARGUMENT` for one not started. */
  diskSize(target: string): number {
    const d = this.#disks.get(target);
    if (d === undefined) {
      throw new RepoError('REPO_BAD_ARGUMENT', `disk ${target} not started`);
    }
    return d.index.virtualSize;
  }

  /** Removes the half-written snapshot and releases the lease. Idempotent. */
  async abort(): Promise<void> {
    if (this.#state !== 'open') {
      await this.#lease?.close();
      return;
    }
    this.#state = 'aborted';
    this.#packs?.discard();
    // a job started before the state changed may still be queued behind the semaphore
    while (this.#inflight.size > 0) {
      await Promise.allSettled([...this.#inflight]);
    }
    await this.#news.discard();
    // manifest first: a commit that failed after placing it (its folder's fsync) left a snapshot
    // that looks committed, and a crash midway through removing the rest must not leave that
    await this.#repo.removeSnapshotDir(this.#opts.domain.uuid, this.id);
    await this.#lease?.close();
  }

  /** Aborts unless committed. Idempotent. */
  async close(): Promise<void> {
    await this.abort();
  }

  async #cleanupAfterCommit(): Promise<void> {
    for (const [target, d] of this.#disks) {
      if (d.inherited) {
        await fsp.rm(path.join(this.dir, `${target}.index.base`), { force: true });
      }
    }
    await this.#lease?.close();
  }

  #checkOpen(): void {
    if (this.#state !== 'open') {
      throw new RepoError('REPO_STATE', `writer ${this.id} is ${this.#state}`);
    }
  }

  #claim(target: string, slot: number): DiskState {
    this.#checkOpen();
    const d = this.#disks.get(target);
    if (d === undefined) {
      throw new RepoError('REPO_BAD_ARGUMENT', `disk ${target} not started`);
    }
    d.index.get(slot); // range check
    if (d.touched.has(slot)) {
      throw new RepoError('REPO_BAD_ARGUMENT', `slot ${slot} of ${target} written twice`);
    }
    d.touched.add(slot);
    return d;
  }

  async #store(d: DiskState, kind: ChunkKind, data: Uint8Array): Promise<string> {
    const now = this.#repo.options.now();
    const detectZero = kind === ChunkKind.data;
    const r = await this.#track(() => this.#repo.pool().run(kind, data, now, detectZero));
    await this.#record(d, r);
    return r.digest;
  }

  /** Runs a pool job under the writer's semaphore, tracked so commit and abort wait for it. */
  async #track<T>(run: () => Promise<T>): Promise<T> {
    const sem = this.#sem;
    if (sem === null) {
      throw new RepoError('REPO_STATE', 'writer not open');
    }
    // Another disk's copy may go on storing after a failure aborted the writer (or wait for the
    // semaphore meanwhile): its temps would be written after the abort removed them.
    const job = sem.with(() => {
      this.#checkOpen();
      return run();
    });
    this.#inflight.add(job);
    try {
      return await job;
    } finally {
      this.#inflight.delete(job);
    }
  }

  /** The writer as its packs see it. */
  #packHost(): PackHost<DiskState> {
    return {
      pool: () => this.#repo.pool(),
      now: () => this.#repo.options.now(),
      limits: this.#limits,
      track: (run) => this.#track(run),
      keep: (p) => {
        this.#inflight.add(p);
        void p.finally(() => this.#inflight.delete(p));
      },
      record: (d, c) => this.#record(d, c),
      setSlot: (d, slot, digest) => d.index.set(slot, digest),
      compact: (d, slot, start, news, whole) => this.#compact(d, slot, start, news, whole),
    };
  }

  /**
   * Stores slot `slot` whole: read from the source when `whole` is given (a long chain's patch
   * names ranges in many chunks, each read and verified whole), else from its patch start and new
   * ranges.
   */
  #compact(
    d: DiskState,
    slot: number,
    start: PatchStart,
    news: SlotRange[],
    whole?: () => Promise<Uint8Array>,
  ): Promise<void> {
    const len = d.index.slotLength(slot);
    return this.#compacting.with(async () => {
      const bytes = await compactedSlot(this.#repo, { slot, start, len, news, whole });
      d.bytesRead += whole !== undefined ? len : 0;
      d.index.set(slot, await this.#store(d, ChunkKind.data, bytes));
    });
  }

  /** Takes a stored chunk's temp into the snapshot (or drops it: this writer has that content). */
  async #record(d: DiskState, c: StoredChunk): Promise<void> {
    d.bytesNew += await this.#news.take(c);
  }
}
