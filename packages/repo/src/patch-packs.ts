/**
 * The writer's side of packs (see `worker/pack-job.ts`): small patches of one disk are copied into
 * a held arena region until it is full, then stored by one worker job while the next pack fills.
 * `add` returns once the bytes are copied, so a copy never waits for a pack to fill; a pack's
 * failure is kept and thrown by the next `add` and by `finish`.
 */

import { RepoError } from './errors.js';
import type { PatchLimits } from './format/patch.js';
import type { SlotRange } from './patch-writer.js';
import type { ChunkPool } from './worker/pool.js';
import type { StoredChunk } from './worker/chunk-job.js';
import type { PackJobResult, PackSlot } from './worker/pack-job.js';
import type { PatchStart } from './worker/slot-entry.js';

/**
 * A pack is stored once it holds this many bytes or {@link PACK_SLOTS} slots: large enough to be
 * written with O_DIRECT (from 1 MiB), small enough that the next pack fills while it is stored.
 */
const PACK_BYTES = 2 * 1024 * 1024;
/**
 * Patches with at most this many new bytes go into packs (copied there); larger ones, which a
 * caller usually laid in a lent region, are stored by a job of their own without a copy.
 */
export const PACKED_UP_TO = 256 * 1024;
/** Slots per pack at most: each is a header read and a patch file in the worker's one job. */
const PACK_SLOTS = 48;

/** What packs of disk `D` need from their writer. */
export interface PackHost<D> {
  /** The writer's worker pool. */
  pool(): ChunkPool;
  /** Wall-clock ms for touching chunks. */
  now(): number;
  /** Compaction limits. */
  limits: PatchLimits;
  /** Runs a pool job under the writer's bound. */
  track<T>(run: () => Promise<T>): Promise<T>;
  /** Keeps `p` in the writer's in-flight set until it settles. */
  keep(p: Promise<void>): void;
  /** Takes a stored chunk into the snapshot. */
  record(d: D, c: StoredChunk): Promise<void>;
  /** Sets a slot's entry. */
  setSlot(d: D, slot: number, digest: string): void;
  /**
   * Compacts a slot: from `whole` (the source) when given, else from its start and new ranges
   * (the bytes are the caller's copies).
   */
  compact(
    d: D,
    slot: number,
    start: PatchStart,
    news: SlotRange[],
    whole?: () => Promise<Uint8Array>,
  ): Promise<void>;
}

/** One slot's patch as the writer hands it over. */
export interface PackEntry {
  /** The slot's current entry. */
  current: string;
  /** The slot's length. */
  slotLength: number;
  /** The new ranges, sorted (a range with `zero` is not copied). */
  ranges: SlotRange[];
  /** Reads the slot's current bytes from the source, for a compaction. */
  whole?: (() => Promise<Uint8Array>) | undefined;
}

interface Pack {
  region: number;
  payload: Buffer;
  used: number;
  slots: number[];
  /** What the worker gets (cloneable: no functions). */
  members: PackSlot[];
  wholes: ((() => Promise<Uint8Array>) | undefined)[];
}

/** Packs being filled, one per disk, and the permits that bound how many regions they hold. */
export class PatchPacks<D> {
  readonly #filling = new Map<D, Pack>();
  readonly #opening = new Map<D, Promise<void>>();
  /** Packs of each disk being stored (and their slots compacted). */
  readonly #stored = new Map<D, Set<Promise<void>>>();
  readonly #max: number;
  #held = 0;
  #failure: Error | null = null;
  #discarded = false;

  /**
   * @param host the writer @param max packs holding a region at once (fewer than the pool's
   * staging regions, so that staged jobs always find one)
   */
  constructor(
    private readonly host: PackHost<D>,
    max: number,
  ) {
    this.#max = Math.max(1, max);
  }

  /** Throws the first failure of a stored pack, or that the packs were discarded. */
  check(): void {
    if (this.#failure !== null) {
      throw this.#failure;
    }
    if (this.#discarded) {
      throw new RepoError('REPO_STATE', 'the writer was aborted');
    }
  }

  /** Copies one slot's new ranges into `d`'s pack, storing the pack first when they do not fit. */
  async add(d: D, slot: number, entry: PackEntry): Promise<void> {
    const bytes = entry.ranges.reduce((n, r) => n + (r.zero === true ? 0 : r.data.length), 0);
    for (;;) {
      this.check();
      const p = this.#filling.get(d);
      if (p !== undefined && fits(p, bytes)) {
        lay(p, slot, entry);
        return;
      }
      if (p !== undefined) {
        this.#dispatch(d, p);
      }
      await this.#openFor(d);
    }
  }

  /** Stores `d`'s pack being filled and waits for all of `d`'s packs; throws the first failure. */
  async settle(d: D): Promise<void> {
    const p = this.#filling.get(d);
    if (p !== undefined) {
      this.#dispatch(d, p);
    }
    await Promise.all([...(this.#stored.get(d) ?? [])]);
    this.check();
  }

  /** Stores every pack being filled (before a commit). */
  flush(): void {
    for (const [d, p] of [...this.#filling]) {
      this.#dispatch(d, p);
    }
  }

  /** Gives back the regions of packs never stored (abort). */
  discard(): void {
    this.#discarded = true;
    for (const p of this.#filling.values()) {
      this.#release(p);
    }
    this.#filling.clear();
  }

  #openFor(d: D): Promise<void> {
    let o = this.#opening.get(d);
    if (o === undefined) {
      o = this.#open(d).finally(() => this.#opening.delete(d));
      this.#opening.set(d, o);
    }
    return o;
  }

  async #open(d: D): Promise<void> {
    const permits = this.host.pool().packPermits;
    if (this.#held >= this.#max || permits.available === 0) {
      // Another disk's pack may be waiting to fill: store it, so that its permit comes back. The
      // permits are the pool's, shared with other writers: each one that waits has stored its
      // own packs first, so every permit held is on its way back and no two writers wait on each
      // other.
      this.flush();
    }
    await permits.acquire();
    this.#held++;
    try {
      const { region, payload } = await this.host.pool().holdRegion();
      const p = { region, payload, used: 0, slots: [], members: [], wholes: [] };
      if (this.#discarded) {
        // aborted while this waited for a region: nothing may hold one any more
        this.#release(p);
        return;
      }
      this.#filling.set(d, p);
    } catch (e) {
      this.#held--;
      this.host.pool().packPermits.release();
      throw e;
    }
  }

  #release(p: Pack): void {
    if (p.region >= 0) {
      this.host.pool().releaseRegion(p.region);
      p.region = -1;
      this.#held--;
      this.host.pool().packPermits.release();
    }
  }

  #dispatch(d: D, p: Pack): void {
    this.#filling.delete(d);
    const { limits } = this.host;
    const job = {
      region: p.region,
      length: p.used,
      slots: p.members,
      limits,
      nowMs: this.host.now(),
    };
    const done = this.host
      .track(() => this.host.pool().runPack(job))
      .then((r) => this.#apply(d, p, r))
      .catch((e: unknown) => {
        this.#failure ??= e instanceof Error ? e : new Error(String(e));
      })
      .finally(() => this.#release(p));
    let mine = this.#stored.get(d);
    if (mine === undefined) {
      mine = new Set();
      this.#stored.set(d, mine);
    }
    const set = mine;
    set.add(done);
    void done.finally(() => set.delete(done));
    this.host.keep(done);
  }

  /** Records a stored pack's chunks and entries, then compacts the slots the worker left. */
  async #apply(d: D, p: Pack, r: PackJobResult): Promise<void> {
    if (r.data !== null) {
      await this.host.record(d, r.data);
    }
    const compacts: {
      slot: number;
      start: PatchStart;
      news: SlotRange[];
      whole: (() => Promise<Uint8Array>) | undefined;
    }[] = [];
    for (const [i, s] of r.slots.entries()) {
      const slot = p.slots[i] as number;
      if ('patch' in s) {
        await this.host.record(d, s.patch);
        this.host.setSlot(d, slot, s.patch.digest);
      } else {
        const whole = p.wholes[i];
        const news = (whole !== undefined ? [] : (p.members[i] as PackSlot).ranges).map((x) => ({
          offsetInSlot: x.slotOffset,
          // copied out: the region goes back before the compaction reads anything
          data:
            x.at === null
              ? Buffer.alloc(x.length)
              : Buffer.from(p.payload.subarray(x.at, x.at + x.length)),
        }));
        compacts.push({ slot, start: s.compact, news, whole });
      }
    }
    this.#release(p);
    for (const c of compacts) {
      await this.host.compact(d, c.slot, c.start, c.news, c.whole);
    }
  }
}

function fits(p: Pack, bytes: number): boolean {
  if (p.members.length === 0) {
    return bytes <= p.payload.length;
  }
  const room = Math.min(PACK_BYTES, p.payload.length);
  return p.used + bytes <= room && p.members.length < PACK_SLOTS;
}

function lay(p: Pack, slot: number, entry: PackEntry): void {
  const member: PackSlot = { current: entry.current, slotLength: entry.slotLength, ranges: [] };
  for (const r of entry.ranges) {
    let at: number | null = null;
    if (r.zero !== true) {
      at = p.used;
      p.payload.set(r.data, at);
      p.used += r.data.length;
    }
    member.ranges.push({ slotOffset: r.offsetInSlot, length: r.data.length, at });
  }
  p.slots.push(slot);
  p.members.push(member);
  p.wholes.push(entry.whole);
}
