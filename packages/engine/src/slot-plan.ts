/**
 * Which bytes of a disk to read, and how to store each slot, given the source's extents.
 *
 * A repository slot is 4 MiB; dirty bitmaps have 64 KiB granularity. A full backup stores every slot
 * whole, or as its data over zeros when it is mostly hole. An incremental keeps the parent's entry for untouched slots, stores a partly changed slot as a
 * patch (only the changed bytes are read, hashed and stored) and a mostly changed one whole. Pure.
 */

import { PATCH_MAX_RANGES } from '@virtvault/repo';

/** One extent of the source disk, from `base:allocation` and (incrementals) the dirty bitmap. */
export interface SourceExtent {
  /** Byte offset on the disk. */
  offset: number;
  /** Length in bytes. */
  length: number;
  /** False where the source reads as zeros without storing data (hole or zero extent). */
  allocated: boolean;
  /** True where the bytes changed since the checkpoint the backup starts from (always, for a full). */
  changed: boolean;
}

/** A byte range relative to the start of a slot. */
export interface SlotRange {
  /** Offset inside the slot. */
  offset: number;
  /** Length in bytes. */
  length: number;
}

/** A changed range of a patch; `read` is false where the new content is zeros (no read needed). */
export interface PatchRange extends SlotRange {
  /** Whether the bytes must be read from the source (false: they are zeros now). */
  read: boolean;
}

/**
 * What to do with one slot. `sparse`: a slot holding little data among holes is stored as its data
 * over zeros (a patch over the zero base), so the holes are never hashed, compressed or written.
 */
export type SlotWork =
  | { slot: number; kind: 'keep' }
  | { slot: number; kind: 'zero' }
  | { slot: number; kind: 'data'; reads: SlotRange[]; length: number }
  | { slot: number; kind: 'sparse'; reads: SlotRange[] }
  | { slot: number; kind: 'patch'; ranges: PatchRange[] };

/**
 * A slot is stored sparse when its data covers at most this fraction of it in at most
 * {@link SPARSE_MAX_RANGES} ranges: the repository's default patch limits, beyond which it would
 * store the slot whole anyway.
 */
export const SPARSE_MAX_FRACTION = 0.5;
/** See {@link SPARSE_MAX_FRACTION}; the repository format allows no more ranges in a patch. */
export const SPARSE_MAX_RANGES = PATCH_MAX_RANGES;

/** Inputs of {@link planSlots}. */
export interface SlotPlanInput {
  /** The disk's virtual size in bytes. */
  size: number;
  /** Slot size of the repository in bytes. */
  slotSize: number;
  /** Extents covering `[0, size)` in order (gaps are treated as unallocated and unchanged). */
  extents: SourceExtent[];
  /** `full` stores every slot; `changes` keeps unchanged slots of the parent (incremental, differential). */
  mode: 'full' | 'changes';
  /** For `changes`: whether the parent's slot holds data (a patch needs a base). */
  parentHasData?: (slot: number) => boolean;
  /** A slot changed over more than this fraction is stored whole. @default 0.5 */
  wholeSlotFraction?: number;
}

interface SlotAccumulator {
  reads: SlotRange[];
  patch: PatchRange[];
  changedBytes: number;
  allocatedBytes: number;
}

function emptyAcc(): SlotAccumulator {
  return { reads: [], patch: [], changedBytes: 0, allocatedBytes: 0 };
}

/** Appends a range, merging it with the previous one when they touch and agree. */
function pushRange<T extends SlotRange>(list: T[], r: T, same: (a: T, b: T) => boolean): void {
  const last = list[list.length - 1];
  if (last && last.offset + last.length === r.offset && same(last, r)) {
    last.length += r.length;
  } else {
    list.push(r);
  }
}

function addPiece(acc: SlotAccumulator, e: SourceExtent, offset: number, length: number): void {
  if (e.allocated) {
    acc.allocatedBytes += length;
    pushRange(acc.reads, { offset, length }, () => true);
  }
  if (e.changed) {
    acc.changedBytes += length;
    pushRange(acc.patch, { offset, length, read: e.allocated }, (a, b) => a.read === b.read);
  }
}

function decide(
  slot: number,
  acc: SlotAccumulator,
  length: number,
  input: Omit<SlotPlanInput, 'extents'>,
): SlotWork {
  if (input.mode === 'changes' && acc.changedBytes === 0) {
    return { slot, kind: 'keep' };
  }
  if (acc.allocatedBytes === 0) {
    return { slot, kind: 'zero' };
  }
  const fraction = input.wholeSlotFraction ?? 0.5;
  const hasBase = input.parentHasData?.(slot) ?? false;
  if (input.mode === 'changes' && hasBase && acc.changedBytes <= length * fraction) {
    return { slot, kind: 'patch', ranges: acc.patch };
  }
  const sparse =
    acc.allocatedBytes <= length * SPARSE_MAX_FRACTION && acc.reads.length <= SPARSE_MAX_RANGES;
  if (sparse) {
    return { slot, kind: 'sparse', reads: acc.reads };
  }
  return { slot, kind: 'data', reads: acc.reads, length };
}

/**
 * Plans slots as extents arrive in disk order: a slot is decided once an extent reaches past its
 * end (or the input ends), so a caller streaming a walk holds one slot's extents, not the disk's.
 */
export class SlotPlanner {
  readonly #input: Omit<SlotPlanInput, 'extents'>;
  readonly #slots: number;
  #slot = 0;
  #acc = emptyAcc();

  /** @param input the disk and mode (its `extents`, if any, are ignored) */
  constructor(input: Omit<SlotPlanInput, 'extents'>) {
    this.#input = input;
    this.#slots = Math.ceil(input.size / input.slotSize);
  }

  /** Adds the next extent (offsets ascending, not overlapping); returns the slots it completed. */
  add(e: SourceExtent): SlotWork[] {
    const out: SlotWork[] = [];
    const eEnd = Math.min(e.offset + e.length, this.#input.size);
    while (this.#slot < this.#slots) {
      const { start, end } = this.#bounds();
      if (e.offset >= end) {
        out.push(this.#next());
        continue;
      }
      const from = Math.max(start, e.offset);
      const to = Math.min(end, eEnd);
      if (to > from) {
        addPiece(this.#acc, e, from - start, to - from);
      }
      if (eEnd < end) {
        break;
      }
      out.push(this.#next());
      if (eEnd === end) {
        break;
      }
    }
    return out;
  }

  /** Ends the input: plans every slot left (parts no extent covered are unallocated, unchanged). */
  end(): SlotWork[] {
    const out: SlotWork[] = [];
    while (this.#slot < this.#slots) {
      out.push(this.#next());
    }
    return out;
  }

  #bounds(): { start: number; end: number } {
    const start = this.#slot * this.#input.slotSize;
    return { start, end: Math.min(this.#input.size, start + this.#input.slotSize) };
  }

  #next(): SlotWork {
    const { start, end } = this.#bounds();
    const w = decide(this.#slot, this.#acc, end - start, this.#input);
    this.#slot++;
    this.#acc = emptyAcc();
    return w;
  }
}

/**
 * Plans the work slot by slot, in disk order. Every slot of `[0, size)` gets exactly one entry.
 * A slot whose changed bytes are all unallocated now becomes `zero` only when nothing in it is
 * allocated; otherwise it is patched with zero ranges (`read: false`) or stored whole.
 */
export function* planSlots(input: SlotPlanInput): Generator<SlotWork> {
  const planner = new SlotPlanner(input);
  for (const e of input.extents) {
    yield* planner.add(e);
  }
  yield* planner.end();
}

/** {@link planSlots} over extents that arrive while the slots are worked on. */
export async function* planSlotsFrom(
  input: Omit<SlotPlanInput, 'extents'>,
  extents: AsyncIterable<SourceExtent>,
): AsyncGenerator<SlotWork> {
  const planner = new SlotPlanner(input);
  for await (const e of extents) {
    yield* planner.add(e);
  }
  yield* planner.end();
}
