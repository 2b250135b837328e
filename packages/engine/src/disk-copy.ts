/**
 * Copies one disk from an NBD export into a snapshot writer: walks the extents (allocation, and
 * the dirty bitmap for incrementals), plans each slot and reads only what the plan needs.
 */
import { runPool, Semaphore, settleAll, zeroFill } from '@virtvault/core';
import { NbdClient, walkExtents } from '@virtvault/nbd';
import type { SnapshotWriter, SlotRange as RepoPatchRange } from '@virtvault/repo';

import { EngineError } from './errors.js';
import {
  planSlotsFrom,
  type PatchRange,
  type SlotPlanInput,
  type SlotWork,
  type SourceExtent,
} from './slot-plan.js';

/** NBD metadata context of the allocation status. */
export const BASE_ALLOCATION = 'base:allocation';

/** Progress of one disk, in bytes. */
export interface DiskProgress {
  /** Disk target. */
  target: string;
  /** Bytes read so far. */
  bytesRead: number;
  /** Bytes this copy will read in all. */
  bytesToRead: number;
}

/** Options of {@link copyDisk}. */
export interface CopyDiskOptions {
  /** Connected client; its contexts include `base:allocation` (and the bitmap, for changes). */
  nbd: NbdClient;
  /** Writer with the disk started (from the parent's index for incrementals). */
  writer: SnapshotWriter;
  /** Disk target. */
  target: string;
  /** Repository slot size. */
  slotSize: number;
  /** `full`, or `changes` with the dirty-bitmap context to follow. */
  mode: { kind: 'full' } | { kind: 'changes'; bitmapContext: string };
  /** Whether the parent's slot holds data (changes only). */
  parentHasData?: (slot: number) => boolean;
  /**
   * Slots holding a large buffer (a whole slot, or a sparse slot's data) at once: the memory bound.
   * Enough to keep the chunk workers busy while other slots wait on NBD replies. @default 8
   */
  concurrency?: number;
  /** Called after every slot. */
  onProgress?: (p: DiskProgress) => void;
  /**
   * With `onProgress`: a copy still walking its extents after this long walks them a second time,
   * alone, for the total its progress needs (see {@link copyDisk}). @default 2000
   */
  countAfterMs?: number;
  /** Cancels the copy. */
  signal?: AbortSignal;
}

/** The source's extents as the walk finds them: extents known to read as zeros are never read. */
async function* sourceExtents(o: CopyDiskOptions): AsyncGenerator<SourceExtent> {
  const contexts: [string] | [string, string] =
    o.mode.kind === 'full' ? [BASE_ALLOCATION] : [BASE_ALLOCATION, o.mode.bitmapContext];
  const walk = walkExtents(o.nbd, { contexts, ...(o.signal ? { signal: o.signal } : {}) });
  for await (const e of walk) {
    yield {
      offset: e.offset,
      length: e.length,
      // only a promise of zeros lets a range go unread: a hole without NBD_STATE_ZERO may hold
      // data (the spec's sparse file over a backing file), so it is read like any data
      allocated: !e.zero,
      changed: o.mode.kind === 'full' || e.dirty,
    };
  }
}

/**
 * When a copy starts its second walk of the extents. Not at once: that walk's block status and
 * planning took ~0.2 s of a 1.4 s incremental's copy (measured A/B on the bench VM, 4 pairs),
 * where the bar would have appeared at about the same time without it.
 */
const COUNT_AFTER_MS = 2000;

/** Bytes a slot's work reads from the source. */
function bytesToRead(w: SlotWork): number {
  if (w.kind === 'data' || w.kind === 'sparse') {
    return w.reads.reduce((s, r) => s + r.length, 0);
  }
  if (w.kind === 'patch') {
    return w.ranges.reduce((s, r) => s + (r.read ? r.length : 0), 0);
  }
  return 0;
}

async function readInto(o: CopyDiskOptions, buf: Buffer, at: number, off: number, len: number) {
  const opts = o.signal ? { signal: o.signal } : {};
  await o.nbd.read(at + off, len, { ...opts, into: buf.subarray(off, off + len) });
}

/**
 * The whole slot at `start` as the export has it now: what a patch that must be compacted becomes,
 * read here rather than rebuilt from the repository's base and old ranges.
 */
async function readSlot(o: CopyDiskOptions, start: number): Promise<Uint8Array> {
  const buf = Buffer.allocUnsafe(Math.min(o.slotSize, o.nbd.size - start));
  await readInto(o, buf, start, 0, buf.length);
  return buf;
}

/** Zeroes the parts of `buf` the reads will not cover (holes inside a partly allocated slot). */
function zeroGaps(buf: Buffer, reads: readonly { offset: number; length: number }[]): void {
  let at = 0;
  for (const r of reads) {
    zeroFill(buf, at, r.offset);
    at = r.offset + r.length;
  }
  zeroFill(buf, at);
}

/**
 * Slots in flight per large-buffer slot: small patches wait far more than they hold. 1, 2 and 4
 * measured alike within this machine's noise (incremental 3.7-4.6 s); 4 cost ~25 MiB more RSS.
 */
const SMALL_PER_BIG = 2;
/** Buffers up to this size are plain (copied into the pool) and not counted against the bound. */
const SMALL_BYTES = 256 * 1024;

/**
 * Small buffers, reused: a fresh one per patch faulted its pages in one by one, ~8,000 page faults
 * of an incremental (~14 µs each on the lab machine). A/B over 5 alternating pairs of incrementals:
 * copy phase median 1,922 -> 1,728 ms, but only 2 of the 5 pairs faster: a small gain within noise,
 * kept because it cannot cost more than the allocations it replaces.
 */
class SmallBuffers {
  readonly #free: Buffer[] = [];

  /** Runs `fn` with a buffer of `length` (at most {@link SMALL_BYTES}) bytes, then keeps it. */
  async with<T>(length: number, fn: (buf: Buffer) => Promise<T>): Promise<T> {
    const b = this.#free.pop() ?? Buffer.allocUnsafeSlow(SMALL_BYTES);
    try {
      return await fn(b.subarray(0, length));
    } finally {
      this.#free.push(b);
    }
  }
}

/** What bounds a copy's buffers: permits for large ones, reused small ones. */
interface Buffers {
  /** Permits for large (lent) buffers: the memory bound. */
  big: Semaphore;
  /** Reused small buffers. */
  small: SmallBuffers;
}

/**
 * Runs `fn` with a buffer of `length` bytes. A large one is lent by the writer (the NBD reads land
 * where the chunk worker hashes and writes them) and holds a permit of `big`, the memory bound.
 */
async function withBuffer<T>(
  o: CopyDiskOptions,
  { big, small }: Buffers,
  length: number,
  fn: (buf: Buffer) => Promise<T>,
): Promise<T> {
  if (length <= SMALL_BYTES) {
    return small.with(length, fn);
  }
  return big.with(async () => {
    const buf = o.writer.takeBuffer(length);
    try {
      return await fn(buf);
    } finally {
      o.writer.giveBuffer(buf);
    }
  });
}

/** Carries out one slot's work; returns the bytes read from the export. */
async function doSlot(o: CopyDiskOptions, bufs: Buffers, w: SlotWork): Promise<number> {
  const start = w.slot * o.slotSize;
  switch (w.kind) {
    case 'keep':
      return 0;
    case 'zero':
      await o.writer.putZero(o.target, w.slot);
      return 0;
    case 'data':
      return withBuffer(o, bufs, w.length, async (buf) => {
        zeroGaps(buf, w.reads);
        // every read settled before the buffer can go back to the writer (see settleAll)
        await settleAll(w.reads.map((r) => readInto(o, buf, start, r.offset, r.length)));
        const read = w.reads.reduce((s, r) => s + r.length, 0);
        await o.writer.putSlot(o.target, w.slot, buf, { bytesRead: read });
        return read;
      });
    case 'sparse': {
      const reads = w.reads.map((r) => ({ ...r, read: true }));
      return putRanges(o, bufs, w.slot, reads, true);
    }
    case 'patch':
      return putRanges(o, bufs, w.slot, w.ranges, false);
  }
}

/**
 * Stores ranges of a slot as a patch (over the slot's entry, or over zeros): their bytes are read
 * end to end into one buffer, which the writer stores in place when it lent it.
 */
function putRanges(
  o: CopyDiskOptions,
  bufs: Buffers,
  slot: number,
  ranges: readonly PatchRange[],
  overZero: boolean,
): Promise<number> {
  const start = slot * o.slotSize;
  const total = ranges.reduce((n, r) => n + r.length, 0);
  return withBuffer(o, bufs, total, async (buf) => {
    const out: RepoPatchRange[] = [];
    const reads: Promise<void>[] = [];
    let at = 0;
    let read = 0;
    for (const r of ranges) {
      const view = buf.subarray(at, at + r.length);
      at += r.length;
      if (r.read) {
        reads.push(readInto(o, view, start + r.offset, 0, r.length));
        read += r.length;
      } else {
        zeroFill(view);
      }
      out.push({ offsetInSlot: r.offset, data: view, ...(r.read ? {} : { zero: true }) });
    }
    await settleAll(reads);
    const whole = (): Promise<Uint8Array> => readSlot(o, start);
    await o.writer.putPatch(o.target, slot, out, { bytesRead: read, overZero, whole });
    return read;
  });
}

/**
 * Copies a disk; returns the bytes read from the export. Slots are read while the walk of the
 * extents goes on (a disk's extents are never all held at once). That walk keeps only a little
 * ahead of the reads, so it ends with the copy: the total that progress needs comes from a second
 * walk of the extents alone (block status, no data), run beside a copy that lasts (`countAfterMs`).
 * Progress is reported once a walk has its total, so that the total never changes; the copy's own
 * walk has the last word.
 */
export async function copyDisk(o: CopyDiskOptions): Promise<number> {
  const progress: DiskProgress = { target: o.target, bytesRead: 0, bytesToRead: 0 };
  let planned = false;
  const report = (): void => {
    if (planned) {
      o.onProgress?.(progress);
    }
  };
  const input: Omit<SlotPlanInput, 'extents'> = {
    size: o.nbd.size,
    slotSize: o.slotSize,
    mode: o.mode.kind === 'full' ? ('full' as const) : ('changes' as const),
    ...(o.parentHasData ? { parentHasData: o.parentHasData } : {}),
  };
  const counting = new AbortController();
  let counted = Promise.resolve();
  const count = (): void => {
    counted = countToRead(o, input, counting.signal).then(
      (total) => {
        if (!planned) {
          progress.bytesToRead = total;
          planned = true;
          report();
        }
      },
      // the copy's walk meets the same trouble and reports it; progress then waits for that walk
      () => undefined,
    );
  };
  const late =
    o.onProgress === undefined ? undefined : setTimeout(count, o.countAfterMs ?? COUNT_AFTER_MS);
  async function* work(): AsyncGenerator<SlotWork> {
    let total = 0;
    for await (const w of planSlotsFrom(input, sourceExtents(o))) {
      total += bytesToRead(w);
      yield w;
    }
    clearTimeout(late);
    progress.bytesToRead = total;
    planned = true;
    report();
  }
  try {
    await copySlots(o, work(), (read) => {
      progress.bytesRead += read;
      report();
    });
  } finally {
    clearTimeout(late);
    counting.abort();
    await counted;
  }
  return progress.bytesRead;
}

/** Runs every slot's work, bounded; `onSlot` gets the bytes each one read. */
async function copySlots(
  o: CopyDiskOptions,
  work: AsyncIterable<SlotWork>,
  onSlot: (read: number) => void,
): Promise<void> {
  const bound = o.concurrency ?? 8;
  const buffers: Buffers = { big: new Semaphore(bound), small: new SmallBuffers() };
  // Patches of an incremental hold little memory and mostly wait (a base's header read from disk,
  // NBD replies): more of them are in flight than whole slots.
  await runPool(work, bound * SMALL_PER_BIG, async (w) => {
    onSlot(await doSlot(o, buffers, w));
  });
  // patches still waiting in a pack may read their slot from this export
  await o.writer.flushDisk(o.target);
}

/** The bytes the copy of `o` will read: its slots planned from a walk of the extents alone. */
async function countToRead(
  o: CopyDiskOptions,
  input: Omit<SlotPlanInput, 'extents'>,
  signal: AbortSignal,
): Promise<number> {
  const both = o.signal ? AbortSignal.any([o.signal, signal]) : signal;
  let total = 0;
  for await (const w of planSlotsFrom(input, sourceExtents({ ...o, signal: both }))) {
    total += bytesToRead(w);
  }
  return total;
}

/** Where one disk's export is and how to copy it. */
export interface ExportCopy {
  /** Unix socket of the NBD server. */
  socket: string;
  /** Export name. */
  exportName: string;
  /** Disk target. */
  target: string;
  /** `qemu:dirty-bitmap:<name>` to follow, or null for a full. */
  bitmapContext: string | null;
  /** Connections to ask for (used only where the server offers multi-conn). @default 4 */
  connections?: number;
  /** Requests in flight per connection (see `NbdClientOptions.maxInFlight`). @default 4 */
  requests?: number;
}

/** What {@link copyExport} shares with every disk of a backup. */
export type CopyCommon = Pick<CopyDiskOptions, 'writer' | 'slotSize' | 'onProgress' | 'signal'> & {
  /** Whether the parent's slot holds data, per disk. */
  parentHasData?: (target: string, slot: number) => boolean;
};

/** Connects to one disk's export (several connections where multi-conn is offered) and copies it. */
export async function copyExport(c: CopyCommon, e: ExportCopy): Promise<number> {
  const ctx = e.bitmapContext;
  const nbd = await NbdClient.connect({
    socket: e.socket,
    exportName: e.exportName,
    metaContexts: ctx === null ? [BASE_ALLOCATION] : [BASE_ALLOCATION, ctx],
    connections: e.connections ?? 4,
    maxInFlight: e.requests ?? 4,
  });
  try {
    // the disk resized between the look the plan took and the job: the snapshot would record the
    // old size over the new disk's bytes (or fail at a slot past the end); the next run's plan
    // sees the new size and takes a full
    const size = c.writer.diskSize(e.target);
    if (nbd.size !== size) {
      const msg = `disk ${e.target} is ${nbd.size} bytes now, ${size} when the backup was planned`;
      throw new EngineError('DISKS_CHANGED', msg);
    }
    const has = c.parentHasData;
    return await copyDisk({
      nbd,
      writer: c.writer,
      target: e.target,
      slotSize: c.slotSize,
      mode: ctx === null ? { kind: 'full' } : { kind: 'changes', bitmapContext: ctx },
      ...(has ? { parentHasData: (s: number) => has(e.target, s) } : {}),
      ...(c.onProgress ? { onProgress: c.onProgress } : {}),
      ...(c.signal ? { signal: c.signal } : {}),
    });
  } finally {
    await nbd.close();
  }
}
