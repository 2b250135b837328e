import { RepoError } from '../errors.js';
import {
  PATCH_HEADER_BYTES,
  PATCH_MAX_RANGES,
  PATCH_RANGE_BYTES,
  ZERO_DIGEST_HEX,
} from './constants.js';

/** One range of a patch: `length` bytes at `slotOffset` come from `digest` at `chunkOffset`. */
export interface PatchRange {
  /** Offset inside the slot. */
  slotOffset: number;
  /** Length in bytes (> 0). */
  length: number;
  /** Data chunk holding the bytes; the zero digest means zeros. */
  digest: string;
  /** Offset inside that chunk's payload. */
  chunkOffset: number;
}

/** A decoded patch: a base (data chunk or zero) plus ranges laid over it. */
export interface Patch {
  /** The base data chunk; the zero digest means an all-zero base. */
  base: string;
  /** Length of the resolved slot. */
  slotLength: number;
  /** Sorted, non-overlapping ranges. */
  ranges: PatchRange[];
}

/**
 * Encodes a patch payload (see docs/repository-format.md). Throws `REPO_BAD_ARGUMENT` for more
 * than {@link PATCH_MAX_RANGES} ranges: readers tell a patch from a data chunk by its file's size.
 */
export function encodePatch(p: Patch): Buffer {
  if (p.ranges.length > PATCH_MAX_RANGES) {
    throw new RepoError(
      'REPO_BAD_ARGUMENT',
      `a patch holds at most ${PATCH_MAX_RANGES} ranges, not ${p.ranges.length}`,
    );
  }
  const b = Buffer.alloc(PATCH_HEADER_BYTES + p.ranges.length * PATCH_RANGE_BYTES);
  b.write(p.base, 0, 'hex');
  b.writeUInt32LE(p.slotLength, 32);
  b.writeUInt32LE(p.ranges.length, 36);
  p.ranges.forEach((r, i) => {
    const o = PATCH_HEADER_BYTES + i * PATCH_RANGE_BYTES;
    b.writeUInt32LE(r.slotOffset, o);
    b.writeUInt32LE(r.length, o + 4);
    b.writeUInt32LE(r.chunkOffset, o + 8);
    b.write(r.digest, o + 16, 'hex');
  });
  return b;
}

/** Decodes and validates a patch payload. Throws `REPO_CHUNK_CORRUPT` naming `digest`. */
export function decodePatch(payload: Buffer, digest: string): Patch {
  const bad = (why: string): RepoError =>
    new RepoError('REPO_CHUNK_CORRUPT', `patch ${digest} is invalid: ${why}`);
  if (payload.length < PATCH_HEADER_BYTES) {
    throw bad('too short');
  }
  const slotLength = payload.readUInt32LE(32);
  const count = payload.readUInt32LE(36);
  if (payload.length !== PATCH_HEADER_BYTES + count * PATCH_RANGE_BYTES) {
    throw bad('length mismatch');
  }
  if (count > PATCH_MAX_RANGES) {
    throw bad(`${count} ranges, more than ${PATCH_MAX_RANGES}`);
  }
  const ranges: PatchRange[] = [];
  let end = 0;
  for (let i = 0; i < count; i++) {
    const o = PATCH_HEADER_BYTES + i * PATCH_RANGE_BYTES;
    const r: PatchRange = {
      slotOffset: payload.readUInt32LE(o),
      length: payload.readUInt32LE(o + 4),
      chunkOffset: payload.readUInt32LE(o + 8),
      digest: payload.toString('hex', o + 16, o + 48),
    };
    if (r.length === 0 || r.slotOffset < end || r.slotOffset + r.length > slotLength) {
      throw bad('ranges out of order or out of the slot');
    }
    end = r.slotOffset + r.length;
    ranges.push(r);
  }
  return { base: payload.toString('hex', 0, 32), slotLength, ranges };
}

/** Bytes of the slot that a patch's ranges cover. */
export function patchCoverage(ranges: readonly PatchRange[]): number {
  return ranges.reduce((n, r) => n + r.length, 0);
}

/**
 * Lays `updates` over `old` (both sorted, non-overlapping): old ranges are clipped or split where
 * an update covers them (their `chunkOffset` shifts accordingly), so the result is again sorted and
 * non-overlapping and needs no chunk data — merging two patches reads nothing.
 */
export function mergeRanges(
  old: readonly PatchRange[],
  updates: readonly PatchRange[],
): PatchRange[] {
  const out: PatchRange[] = [...updates];
  for (const r of old) {
    let pieces: PatchRange[] = [r];
    for (const u of updates) {
      pieces = pieces.flatMap((p) => subtract(p, u.slotOffset, u.slotOffset + u.length));
    }
    out.push(...pieces);
  }
  return out.sort((a, b) => a.slotOffset - b.slotOffset);
}

/** The parts of `r` outside [from, to). */
function subtract(r: PatchRange, from: number, to: number): PatchRange[] {
  const end = r.slotOffset + r.length;
  if (to <= r.slotOffset || from >= end) {
    return [r];
  }
  const parts: PatchRange[] = [];
  if (from > r.slotOffset) {
    parts.push({ ...r, length: from - r.slotOffset });
  }
  if (to < end) {
    const shift = to - r.slotOffset;
    parts.push({ ...r, slotOffset: to, length: end - to, chunkOffset: zeroAware(r, shift) });
  }
  return parts;
}

function zeroAware(r: PatchRange, shift: number): number {
  // Zero ranges have no chunk; their chunkOffset stays 0.
  return r.digest === ZERO_DIGEST_HEX ? 0 : r.chunkOffset + shift;
}

/**
 * The payload of a patch laying `news` over `old`, which they replace where they overlap, on
 * `base`. A writer stores all of one patch's new bytes in one data chunk, so the new ranges name
 * it at their own `chunkOffset`.
 */
export function patchPayload(
  base: string,
  old: readonly PatchRange[],
  news: readonly PatchRange[],
  slotLength: number,
): Buffer {
  return encodePatch({ base, slotLength, ranges: mergeRanges(old, news) });
}

/** Limits that decide when a patch is compacted into a plain chunk. */
export interface PatchLimits {
  /** Compact a patch over a data chunk when its ranges cover more than this fraction (default 0.5). */
  maxCoverage: number;
  /** Compact when a patch would hold more ranges than this (default 64). */
  maxRanges: number;
}

/**
 * Whether new ranges laid over `old` on `base` must be materialized into a plain chunk: the merged
 * ranges cover too much of a data base, or are too many. Over zeros a wide patch wastes no base
 * bytes (a sparse slot starts at half), so only the range count bounds it there.
 */
export function exceedsLimits(
  base: string,
  old: readonly PatchRange[],
  news: readonly { slotOffset: number; length: number }[],
  slotLength: number,
  limits: PatchLimits,
): boolean {
  // placeholder digests: only offsets and lengths matter here
  const probe = mergeRanges(
    old,
    news.map((r) => ({ ...r, digest: ZERO_DIGEST_HEX, chunkOffset: 0 })),
  );
  const wide = base !== ZERO_DIGEST_HEX && patchCoverage(probe) > slotLength * limits.maxCoverage;
  return wide || probe.length > limits.maxRanges;
}
