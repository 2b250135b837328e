import { RepoError } from './errors.js';
import { ChunkKind, ZERO_DIGEST_HEX } from './format/constants.js';
import { mergeRanges, patchCoverage, type PatchRange } from './format/patch.js';
import type { Repository } from './repository.js';
import { applyPatch, chunkKind, readPatch } from './resolve.js';

/** New bytes for part of a slot. */
export interface SlotRange {
  /** Offset inside the slot. */
  offsetInSlot: number;
  /** The new bytes. */
  data: Uint8Array;
}

/** Limits that decide when a patch is compacted into a plain chunk. */
export interface PatchLimits {
  /** Compact a patch over a data chunk when its ranges cover more than this fraction (default 0.5). */
  maxCoverage: number;
  /** Compact when a patch would hold more ranges than this (default 64). */
  maxRanges: number;
}

/** What a slot becomes: a patch payload to store, or full slot bytes to store as a data chunk. */
export type PatchPlan =
  | { kind: 'patch'; base: string; old: PatchRange[]; news: SlotRange[] }
  | { kind: 'compact'; bytes: Buffer };

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
 * Decides how to store new ranges over a slot whose current entry is `current`. A patch over a
 * patch is flattened (same base, merged ranges: no data read), so a patch's base is always a data
 * chunk or zeros and the chain depth is 1. When the merged ranges grow too wide or too many, the
 * slot is materialized (base + old ranges + new bytes) and stored as a plain chunk.
 */
export async function planPatch(
  repo: Repository,
  current: string,
  slotLength: number,
  news: SlotRange[],
  limits: PatchLimits,
): Promise<PatchPlan> {
  let base = current;
  let old: PatchRange[] = [];
  if (current !== ZERO_DIGEST_HEX && (await chunkKind(repo, current)) === ChunkKind.patch) {
    const p = await readPatch(repo, current);
    base = p.base;
    old = p.ranges;
  }
  // Placeholder digests: only offsets and lengths matter for the width decision.
  const probe = mergeRanges(
    old,
    news.map((r) => placeholder(r)),
  );
  // Over zeros a wide patch wastes no base bytes (a sparse slot starts at half), so only the
  // range count bounds it there.
  const wide = base !== ZERO_DIGEST_HEX && patchCoverage(probe) > slotLength * limits.maxCoverage;
  if (!wide && probe.length <= limits.maxRanges) {
    return { kind: 'patch', base, old, news };
  }
  const bytes = await applyPatch(repo, { base, slotLength, ranges: old });
  for (const r of news) {
    bytes.set(r.data, r.offsetInSlot);
  }
  return { kind: 'compact', bytes };
}

function placeholder(r: SlotRange): PatchRange {
  return {
    slotOffset: r.offsetInSlot,
    length: r.data.length,
    digest: ZERO_DIGEST_HEX,
    chunkOffset: 0,
  };
}
