/**
 * Extents walker for the backup engine: fetches block status of one or two
 * metadata contexts in work ranges (as nbdcopy does), prefetching a few
 * ranges ahead, and yields merged, coalesced extents with derived
 * allocated/zero/dirty/needed bits.
 */
import type { CommandOptions, Extent } from './client.js';
import { NbdError } from './errors.js';
import { NBD_STATE_DIRTY, NBD_STATE_HOLE, NBD_STATE_ZERO } from './protocol.js';

/** What the walker needs from a client (NbdClient satisfies it). */
export interface BlockStatusSource {
  /** Export size. */
  readonly size: number;
  /** NBD_CMD_BLOCK_STATUS for every negotiated context. */
  blockStatus(
    offset: number,
    length: number,
    opts?: CommandOptions,
  ): Promise<Map<string, Extent[]>>;
}

/** One merged extent over all walked contexts. */
export interface MergedExtent {
  /** Start offset. */
  readonly offset: number;
  /** Length in bytes. */
  readonly length: number;
  /** Raw status per context, in the order the contexts were given. */
  readonly flags: readonly number[];
  /** Holds data (base:allocation not a hole, or allocation depth > 0); true if unknown. */
  readonly allocated: boolean;
  /** Reads as zeroes (base:allocation NBD_STATE_ZERO). */
  readonly zero: boolean;
  /** Dirty in a qemu:dirty-bitmap context; true if no bitmap was walked. */
  readonly dirty: boolean;
  /**
   * Dirty and not known to read as zeros: the bytes a backup must read. Not `allocated`: a hole
   * without NBD_STATE_ZERO may read as data (a sparse file over a backing file).
   */
  readonly needed: boolean;
}

/** Options of {@link walkExtents}. */
export interface WalkOptions extends CommandOptions {
  /** One or two negotiated context names. */
  readonly contexts: readonly [string] | readonly [string, string];
  /** Start of the range; default 0. */
  readonly offset?: number;
  /** Length of the range; default to the export end. */
  readonly length?: number;
  /** Work range size per block status round; default 128 MiB. */
  readonly workSize?: number;
  /** Work ranges fetched ahead; default 2. */
  readonly prefetch?: number;
}

/** Derives allocated/zero/dirty for a flags tuple of the given contexts. */
export function interpret(
  contexts: readonly string[],
  flags: readonly number[],
): Pick<MergedExtent, 'allocated' | 'zero' | 'dirty' | 'needed'> {
  let allocated = true;
  let zero = false;
  let dirty = true;
  contexts.forEach((name, i) => {
    const f = flags[i] ?? 0;
    if (name === 'base:allocation') {
      allocated &&= (f & NBD_STATE_HOLE) === 0;
      zero ||= (f & NBD_STATE_ZERO) !== 0;
    } else if (name === 'qemu:allocation-depth') {
      allocated &&= f > 0;
    } else if (name.startsWith('qemu:dirty-bitmap:')) {
      dirty &&= (f & NBD_STATE_DIRTY) !== 0;
    }
  });
  return { allocated, zero, dirty, needed: dirty && !zero };
}

/**
 * Intersects per-context extent lists over [start, end): boundaries are the
 * union of all lists' boundaries; equal neighbours are coalesced.
 */
export function mergeExtents(
  contexts: readonly string[],
  lists: readonly (readonly Extent[])[],
  start: number,
  end: number,
): MergedExtent[] {
  const out: MergedExtent[] = [];
  const idx = lists.map(() => 0);
  let at = start;
  while (at < end) {
    let next = end;
    const flags: number[] = [];
    lists.forEach((list, k) => {
      let i = idx[k] ?? 0;
      while (i < list.length && (list[i] as Extent).offset + (list[i] as Extent).length <= at) {
        i++;
      }
      idx[k] = i;
      const e = list[i];
      if (!e || e.offset > at) {
        throw new NbdError('NBD_ERR_REPLY_INCOMPLETE', `no extent covers offset ${at}`);
      }
      flags.push(e.flags);
      next = Math.min(next, e.offset + e.length);
    });
    pushCoalesced(out, contexts, at, next - at, flags);
    at = next;
  }
  return out;
}

function pushCoalesced(
  out: MergedExtent[],
  contexts: readonly string[],
  offset: number,
  length: number,
  flags: number[],
): void {
  const last = out[out.length - 1];
  if (last && last.offset + last.length === offset && last.flags.every((f, i) => f === flags[i])) {
    out[out.length - 1] = { ...last, length: last.length + length };
    return;
  }
  out.push({ offset, length, flags, ...interpret(contexts, flags) });
}

/** Fetches and merges the extents of one work range [start, end). */
async function fetchRange(
  src: BlockStatusSource,
  opts: WalkOptions,
  start: number,
  end: number,
): Promise<MergedExtent[]> {
  const out: MergedExtent[] = [];
  let at = start;
  while (at < end) {
    const res = await src.blockStatus(at, end - at, opts.signal ? { signal: opts.signal } : {});
    const lists = opts.contexts.map((c) => res.get(c) ?? []);
    // Contexts may answer for different lengths: keep only the common prefix.
    const reach = Math.min(...lists.map((l) => (l.length ? endOf(l) : at)), end);
    if (reach <= at) {
      throw new NbdError('NBD_ERR_REPLY_INCOMPLETE', `block status made no progress at ${at}`);
    }
    for (const e of mergeExtents(opts.contexts, lists, at, reach)) {
      pushCoalesced(out, opts.contexts, e.offset, e.length, [...e.flags]);
    }
    at = reach;
  }
  return out;
}

function endOf(list: readonly Extent[]): number {
  const l = list[list.length - 1] as Extent;
  return l.offset + l.length;
}

/** Walks [offset, offset+length) and yields merged extents in order. */
export async function* walkExtents(
  src: BlockStatusSource,
  opts: WalkOptions,
): AsyncGenerator<MergedExtent, void, undefined> {
  const start = opts.offset ?? 0;
  const end = Math.min(src.size, start + (opts.length ?? src.size - start));
  const work = opts.workSize ?? 128 * 1024 * 1024;
  const ahead: Promise<MergedExtent[]>[] = [];
  let next = start;
  const refill = (): void => {
    while (ahead.length < Math.max(1, opts.prefetch ?? 2) && next < end) {
      const p = fetchRange(src, opts, next, Math.min(end, next + work));
      // Marked handled here; the error surfaces when this range is awaited.
      p.catch(() => undefined);
      ahead.push(p);
      next = Math.min(end, next + work);
    }
  };
  let last: MergedExtent | undefined;
  for (refill(); ahead.length > 0; refill()) {
    const batch = await (ahead.shift() as Promise<MergedExtent[]>);
    for (const e of batch) {
      if (
        last &&
        last.offset + last.length === e.offset &&
        last.flags.every((f, i) => f === e.flags[i])
      ) {
        last = { ...last, length: last.length + e.length };
      } else {
        if (last) {
          yield last;
        }
        last = e;
      }
    }
  }
  if (last) {
    yield last;
  }
}
