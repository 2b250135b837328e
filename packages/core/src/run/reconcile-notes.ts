/**
 * What a reconcile of the lineage with the repository's manifests changed, in words, and the
 * plan that carries it (`SNAPSHOT_RECONCILED`): shared by a backup run and `doctor`, so both name
 * a repair the same way.
 */
import type { BackupPlan } from '../model/plan.js';

import type { ReconcileResult } from './ports.js';

/** One line per kind of change; none when the lineage already matched. */
export function reconcileNotes(r: ReconcileResult): string[] {
  const notes: string[] = [];
  if (r.imported.length > 0) {
    notes.push(`imported from manifests: ${r.imported.join(', ')}`);
  }
  if (r.missing.length > 0) {
    notes.push(`manifests gone: ${r.missing.join(', ')}`);
  }
  if (r.found.length > 0) {
    notes.push(`manifests back: ${r.found.join(', ')}`);
  }
  return notes;
}

/** `p` with `SNAPSHOT_RECONCILED` and its details added when `notes` has any. */
export function withReconcileNotes(p: BackupPlan, notes: readonly string[]): BackupPlan {
  if (notes.length === 0) {
    return p;
  }
  const details = notes.map((message) => ({ code: 'SNAPSHOT_RECONCILED' as const, message }));
  return {
    ...p,
    reasons: [...p.reasons, 'SNAPSHOT_RECONCILED'],
    details: [...p.details, ...details],
  };
}
