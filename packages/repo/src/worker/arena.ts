/**
 * Slot buffers shared by the main thread and the chunk workers, page-aligned so chunk files can be
 * written with O_DIRECT straight from them.
 *
 * Why shared and aligned: moving 4 MiB to a worker used to cost a copy on the main thread, and
 * writing it through the page cache cost the worker more than hashing it (perf on this project's
 * lab: 49 % of a worker's time in `copy_folio_from_iter_atomic`). A `WebAssembly.Memory` is the one
 * buffer JavaScript can allocate both shared between threads and page-aligned.
 *
 * Region layout: `[16-byte chunk header][payload ...][padding to the alignment]`; the region start
 * is aligned, so a raw chunk file is one write of the region's first `16 + length` bytes.
 */
import { CHUNK_HEADER_BYTES } from '../format/constants.js';

/** Alignment of region starts and of O_DIRECT write lengths (the largest logical block in use). */
export const DIRECT_ALIGN = 4096;

const WASM_PAGE = 65536;

/** Rounds `n` up to a multiple of {@link DIRECT_ALIGN}. */
export function alignUp(n: number): number {
  return Math.ceil(n / DIRECT_ALIGN) * DIRECT_ALIGN;
}

/** A page-aligned buffer of `n` bytes, for O_DIRECT I/O (a wasm memory is mmap'ed). */
export function alignedBuffer(n: number): Buffer {
  return Buffer.from(new WebAssembly.Memory({ initial: Math.ceil(n / WASM_PAGE) }).buffer, 0, n);
}

/** What a worker needs to see the arena: the shared memory and its geometry. */
export interface ArenaShape {
  /** The shared memory (posted to workers as is). */
  memory: WebAssembly.Memory;
  /** Bytes per region (aligned). */
  regionBytes: number;
  /** Number of regions. */
  regions: number;
}

/** Creates the shape of an arena of `regions` regions able to hold `maxPayload` bytes each. */
export function arenaShape(maxPayload: number, regions: number): ArenaShape {
  const regionBytes = alignUp(CHUNK_HEADER_BYTES + maxPayload);
  const pages = Math.ceil((regionBytes * regions) / WASM_PAGE);
  const memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
  return { memory, regionBytes, regions };
}

/** The whole region `i` (header room included), as a Buffer over the shared memory. */
export function regionView(shape: ArenaShape, i: number): Buffer {
  return Buffer.from(shape.memory.buffer, i * shape.regionBytes, shape.regionBytes);
}

/** The payload part of region `i`, `length` bytes long. */
export function payloadView(shape: ArenaShape, i: number, length: number): Buffer {
  return Buffer.from(shape.memory.buffer, i * shape.regionBytes + CHUNK_HEADER_BYTES, length);
}

/** A free list of region indexes, with waiters for when it is empty. */
class RegionList {
  readonly #free: number[] = [];
  readonly #waiters: ((i: number) => void)[] = [];

  constructor(
    readonly from: number,
    readonly to: number,
  ) {
    for (let i = to - 1; i >= from; i--) {
      this.#free.push(i);
    }
  }

  tryTake(): number | null {
    return this.#free.pop() ?? null;
  }

  take(): Promise<number> {
    const i = this.#free.pop();
    return i !== undefined ? Promise.resolve(i) : new Promise((r) => this.#waiters.push(r));
  }

  give(i: number): void {
    const next = this.#waiters.shift();
    if (next !== undefined) {
      next(i);
    } else {
      this.#free.push(i);
    }
  }
}

/**
 * The main thread's bookkeeping of an arena. Two disjoint sets of regions: some are lent to
 * callers (filled in place, then stored without a copy; when none is free the caller gets a plain
 * buffer), the others stage payloads that live elsewhere (waiting for one when all are busy). Kept
 * apart so that callers holding lent regions can never starve staging.
 */
export class Arena {
  readonly #shape: ArenaShape;
  readonly #lend: RegionList;
  readonly #stage: RegionList;

  /** @param shape the memory and geometry @param lendable how many regions are lent to callers */
  constructor(shape: ArenaShape, lendable: number) {
    this.#shape = shape;
    this.#lend = new RegionList(0, lendable);
    this.#stage = new RegionList(lendable, shape.regions);
  }

  /** The shape, for workers. */
  get shape(): ArenaShape {
    return this.#shape;
  }

  /** A payload view of `length` bytes in a lent region, or null when none is free. */
  lend(length: number): Buffer | null {
    const i = this.#lend.tryTake();
    return i === null ? null : payloadView(this.#shape, i, length);
  }

  /** Takes back a region lent by {@link lend}; ignores anything else. */
  unlend(b: Uint8Array): void {
    const i = this.regionOf(b);
    if (i !== null && i < this.#lend.to) {
      this.#lend.give(i);
    }
  }

  /** A staging region, waiting for one when all are busy. */
  stage(): Promise<number> {
    return this.#stage.take();
  }

  /** The payload view of region `i`. */
  view(i: number, length: number): Buffer {
    return payloadView(this.#shape, i, length);
  }

  /** Returns a staging region. */
  unstage(i: number): void {
    this.#stage.give(i);
  }

  /**
   * Any free region, for a job that fills it (a restore's slot): a lendable one when free, else a
   * staging one, waiting for one when all are busy. Give it back with {@link release}.
   */
  claim(): Promise<number> {
    return Promise.resolve(this.#lend.tryTake() ?? this.#stage.take());
  }

  /** Gives back a region from {@link claim} to the list it came from. */
  release(i: number): void {
    (i < this.#lend.to ? this.#lend : this.#stage).give(i);
  }

  /** The region index whose payload `b` is, or null when `b` is not an arena payload view. */
  regionOf(b: Uint8Array): number | null {
    if (b.buffer !== this.#shape.memory.buffer) {
      return null;
    }
    const rel = b.byteOffset - CHUNK_HEADER_BYTES;
    if (rel < 0 || rel % this.#shape.regionBytes !== 0) {
      return null;
    }
    return rel / this.#shape.regionBytes;
  }
}
