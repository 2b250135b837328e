/**
 * Verify's rules between chunks, and between chunks and the slots that name them: what a restore
 * refuses when it lays a slot, found before a restore needs the snapshot. A chunk's digest proves
 * its bytes, not that it fits where it is named: a data chunk of another length than its slot, a
 * patch for another slot length, a patch over a patch, or a range past the end of its chunk are
 * all sound files that no restore can use (only a writer's bug makes them).
 */
import { ZERO_DIGEST_HEX } from './format/constants.js';
import type { ChunkFacts } from './worker/chunk-reader.js';

/** What verify knows of one chunk: sound (with what it is) or at fault. */
export type ChunkState =
  { ok: true; facts: ChunkFacts } | { ok: false; code: string; message: string };

/** The chunks a sound chunk reaches: a patch's base (unless zero) and its ranges' chunks. */
export function childrenOf(f: ChunkFacts): string[] {
  if (f.kind === 'data') {
    return [];
  }
  const out = f.ranges.map((r) => r.digest);
  return f.base === ZERO_DIGEST_HEX ? out : [f.base, ...out];
}

/** The length of the slot a sound chunk fills: a data chunk's own, a patch's slot length. */
export function filledLength(f: ChunkFacts): number {
  return f.kind === 'data' ? f.length : f.slotLength;
}

/**
 * Why a patch cannot be laid as a restore lays it, or null: its base must be a data chunk of the
 * patch's slot length, and every range's chunk a data chunk holding the bytes the range takes.
 * A child that is itself missing or corrupt is its own problem, not this patch's.
 */
export function patchFault(
  f: Extract<ChunkFacts, { kind: 'patch' }>,
  states: ReadonlyMap<string, ChunkState>,
): string | null {
  const base = f.base === ZERO_DIGEST_HEX ? undefined : states.get(f.base);
  if (base?.ok === true) {
    if (base.facts.kind !== 'data') {
      return `its base ${f.base} is a patch, not a data chunk`;
    }
    if (base.facts.length !== f.slotLength) {
      return `its base ${f.base} has ${base.facts.length} bytes, the patch's slot ${f.slotLength}`;
    }
  }
  for (const r of f.ranges) {
    const src = states.get(r.digest);
    if (src?.ok !== true) {
      continue;
    }
    if (src.facts.kind !== 'data') {
      return `a range reads patch ${r.digest}, not a data chunk`;
    }
    if (r.end > src.facts.length) {
      return `a range reaches past the end of chunk ${r.digest} (${r.end} > ${src.facts.length})`;
    }
  }
  return null;
}

/**
 * Marks every sound patch that {@link patchFault} faults as `REPO_CHUNK_CORRUPT`. One pass is
 * enough: the rules look only at the children's kinds and lengths, which no marking changes.
 */
export function faultPatches(states: Map<string, ChunkState>): void {
  const faults: [string, string][] = [];
  for (const [digest, st] of states) {
    if (st.ok && st.facts.kind === 'patch') {
      const why = patchFault(st.facts, states);
      if (why !== null) {
        faults.push([digest, `chunk ${digest} is corrupt: ${why}`]);
      }
    }
  }
  for (const [digest, message] of faults) {
    states.set(digest, { ok: false, code: 'REPO_CHUNK_CORRUPT', message });
  }
}

/**
 * Why the sound chunk `digest` cannot fill the slots of `slotLength` bytes that name it, or null.
 * The chunk may be right where other snapshots name it: the fault is the naming index's.
 */
export function slotFault(digest: string, slotLength: number, st: ChunkState): string | null {
  if (!st.ok || filledLength(st.facts) === slotLength) {
    return null;
  }
  const what = st.facts.kind === 'data' ? 'data chunk' : 'patch';
  return `a slot of ${slotLength} bytes names ${what} ${digest} of ${filledLength(st.facts)} bytes`;
}
