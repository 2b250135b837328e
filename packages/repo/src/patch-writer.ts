import { RepoError } from './errors.js';
import type { PatchRange } from './format/patch.js';
import type { Repository } from './repository.js';
import { applyPatch } from './resolve.js';

/** New bytes for part of a slot. */
export interface SlotRange {
  /** Offset inside the slot. */
  offsetInSlot: number;
  /** The new bytes. */
  data: Uint8Array;
  /** The range reads as zeros (`data` holds zeros too): its bytes need not be stored. */
  zero?: boolean;
}

/** Limits that decide when a patch is compacted (defined with the format). */
export type { PatchLimits } from './format/patch.js';

/** Sorts and checks ranges: inside the slot, non-empty, non-overlapping. Throws `REPO_BAD_ARGUMENT`. */
export function checkRanges(ranges: readonly SlotRange[], slotLength: number): SlotRange[] {
  const sorted = [...ranges].sort((a, b) => a.offsetInSlot - b.offsetInSlot);
  let end = 0;
  for (const r of sorted) {
    const ok = Number.isInteger(r.offsetInSlot) && r.offsetInSlot >= end && r.data.length > 0;
    if (!ok || r.offsetInSlot + r.data.length > slotLength) {
      throw new RepoError('REPO_BAD_ARGUMENT', `patch ranges overlap, are empty or leave the slot`);
    }
    end = r.offsetInSlot + r.data.length;
  }
  if (sorted.length === 0) {
    throw new RepoError('REPO_BAD_ARGUMENT', 'a patch needs at least one range');
  }
  return sorted;
}

/**
 * The bytes of a slot compacted from a patch that grew too wide or too many: the base, the old
 * ranges laid over it, then the new bytes. Every chunk read is verified.
 */
export async function compactSlot(
  repo: Repository,
  start: { base: string; old: PatchRange[] },
  slotLength: number,
  news: readonly SlotRange[],
): Promise<Buffer> {
  const bytes = await applyPatch(repo, { base: start.base, slotLength, ranges: start.old });
  for (const r of news) {
    bytes.set(r.data, r.offsetInSlot);
  }
  return bytes;
}

/**
 * The bytes of a slot being compacted: read from the source by `whole` when given (a long chain's
 * patch names ranges in many chunks, each read and verified whole otherwise), else rebuilt from
 * the repository ({@link compactSlot}). Throws `REPO_BAD_ARGUMENT` when `whole` reads a wrong length.
 */
export async function compactedSlot(
  repo: Repository,
  c: {
    slot: number;
    start: { base: string; old: PatchRange[] };
    len: number;
    news: readonly SlotRange[];
    whole: (() => Promise<Uint8Array>) | undefined;
  },
): Promise<Uint8Array> {
  if (c.whole === undefined) {
    return compactSlot(repo, c.start, c.len, c.news);
  }
  const bytes = await c.whole();
  if (bytes.length !== c.len) {
    throw new RepoError('REPO_BAD_ARGUMENT', `slot ${c.slot} read back as ${bytes.length} bytes`);
  }
  return bytes;
}
