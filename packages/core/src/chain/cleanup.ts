/**
 * Which of our checkpoints to clean up (DESIGN.md section 5): broken ones (bitmap inconsistent or
 * missing, or marked broken in the lineage), orphans no snapshot uses (peers.md B7), and superseded
 * ones of this repository's chain that no future backup can build on. Newest first; metadata first,
 * then bitmaps. Foreign checkpoints are never listed; busy bitmaps are left alone.
 */
import type { DomainLineage, LineageCheckpoint } from '../model/lineage.js';
import type { ObservedDomain } from '../model/observed.js';
import type { CleanupItem, CleanupWhy } from '../model/plan.js';
import type { ReasonCode } from '../model/reasons.js';

import { checkBitmaps, expectedBitmap } from './bitmap-health.js';
import { checkpointSortKey, isLineageConcern, isOwnCheckpoint } from './checkpoint-names.js';

/** The names of every checkpoint and bitmap on the host. */
export function hostNames(observed: ObservedDomain): string[] {
  return [
    ...observed.checkpoints.map((c) => c.name),
    ...observed.disks.flatMap((d) => d.bitmaps.map((b) => b.name)),
  ];
}

/**
 * Every name of ours the host or the lineage knows (lineage-deleted ones only if still on the
 * host); on the host, only this lineage's (another lineage's checkpoints are left alone).
 */
function ownNames(lineage: DomainLineage, observed: ObservedDomain): string[] {
  const names = new Set<string>();
  for (const c of lineage.checkpoints) {
    if (c.state !== 'deleted') {
      names.add(c.name);
    }
  }
  for (const name of hostNames(observed)) {
    if (isLineageConcern(name, lineage)) {
      names.add(name);
    }
  }
  // ULIDs sort by time, so a reverse sort of them is newest first.
  const key = (n: string): string => checkpointSortKey(n);
  return [...names]
    .filter(isOwnCheckpoint)
    .sort((a, b) => (key(a) < key(b) ? 1 : key(a) > key(b) ? -1 : 0));
}

/** Why a checkpoint must go, with the breaker behind it; null when it stays. */
function verdict(
  name: string,
  known: LineageCheckpoint | undefined,
  lineage: DomainLineage,
  observed: ObservedDomain,
  keep: ReadonlySet<string>,
): { why: CleanupWhy; reason: ReasonCode | null } | null {
  const findings = checkBitmaps(name, known?.disks ?? null, observed.disks);
  if (findings.some((f) => f.problem === 'BITMAP_BUSY')) {
    return null;
  }
  const inconsistent = findings.some((f) => f.problem === 'BITMAP_INCONSISTENT');
  const missing = findings.some((f) => f.problem === 'BITMAP_MISSING');
  if (inconsistent || known?.state === 'broken' || known?.state === 'deleted') {
    return { why: 'broken', reason: inconsistent ? 'BITMAP_INCONSISTENT' : null };
  }
  if (!known) {
    // another repository's run made it and never told the lineage how it ended: that
    // repository's next run finds out from its manifests (and keeps it, or removes it); a run
    // still running (any repository's: a doctor --fix beside a backup) may yet commit it
    const pending = lineage.unconfirmed?.some(
      (u) => u.name === name && (u.repository !== lineage.repository || u.running === true),
    );
    return pending === true ? null : { why: 'orphan', reason: null };
  }
  if (missing) {
    return { why: 'broken', reason: 'BITMAP_MISSING' };
  }
  if (known.repository === lineage.repository && !keep.has(name)) {
    return { why: 'superseded', reason: null };
  }
  return null;
}

/**
 * The clean-up list. `keep` holds the checkpoints this repository may still build on (the last
 * snapshot's and the last full's), which stay while healthy.
 */
export function planCleanup(
  lineage: DomainLineage,
  observed: ObservedDomain,
  keep: ReadonlySet<string>,
): CleanupItem[] {
  const via = observed.domain.state === 'shut-off' ? 'qemu-img' : 'qmp';
  const items: CleanupItem[] = [];
  for (const name of ownNames(lineage, observed)) {
    const known = lineage.checkpoints.find((c) => c.name === name);
    const v = verdict(name, known, lineage, observed, keep);
    if (!v) {
      continue;
    }
    const bitmaps = observed.disks.flatMap((d) => {
      const bitmap = expectedBitmap(name, known?.disks ?? null, d.target);
      return d.bitmaps.some((b) => b.name === bitmap) ? [{ disk: d.target, bitmap }] : [];
    });
    const deleteMetadata = observed.checkpoints.some((c) => c.name === name);
    if (deleteMetadata || bitmaps.length > 0) {
      items.push({ checkpoint: name, ...v, deleteMetadata, bitmaps, via });
    }
  }
  return items;
}
