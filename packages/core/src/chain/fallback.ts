/**
 * Turning a plan into a full when a repair step fails at run time (redefine refused, incremental
 * rejected at backup start): the failed parent checkpoint is cleaned up and the chain restarts.
 */
import type { ObservedDomain } from '../model/observed.js';
import type { BackupPlan, CleanupItem } from '../model/plan.js';
import type { ReasonCode } from '../model/reasons.js';

/** Clean-up of a parent checkpoint that failed at run time: metadata (if any), then its bitmaps. */
export function cleanupOfFailedParent(
  checkpoint: string,
  observed: ObservedDomain,
  reason: ReasonCode,
): CleanupItem {
  const bitmaps = observed.disks.flatMap((d) =>
    d.bitmaps.some((b) => b.name === checkpoint) ? [{ disk: d.target, bitmap: checkpoint }] : [],
  );
  return {
    checkpoint,
    why: 'broken',
    reason,
    deleteMetadata: true,
    bitmaps,
    via: observed.domain.state === 'shut-off' ? 'qemu-img' : 'qmp',
  };
}

/**
 * The same plan as a full, with `reason` added. Redefine and the incremental base are dropped;
 * the failed parent checkpoint is queued for clean-up (first, as it is the newest) and marked broken.
 */
export function fallbackToFull(
  plan: BackupPlan,
  observed: ObservedDomain,
  reason: ReasonCode,
  message: string,
): BackupPlan {
  const failed = plan.incrementalFrom;
  const cleanup = failed
    ? [
        cleanupOfFailedParent(failed, observed, reason),
        ...plan.cleanup.filter((c) => c.checkpoint !== failed),
      ]
    : plan.cleanup;
  const markBroken = failed
    ? [...plan.markBroken.filter((m) => m.checkpoint !== failed), { checkpoint: failed, reason }]
    : plan.markBroken;
  return {
    ...plan,
    level: 'full',
    parentSnapshot: null,
    incrementalFrom: null,
    redefine: [],
    cleanup,
    markBroken,
    reasons: plan.reasons.includes(reason) ? plan.reasons : [...plan.reasons, reason],
    details: [...plan.details, { code: reason, message }],
  };
}
