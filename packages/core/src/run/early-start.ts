/**
 * Starting a backup before the lineage store is open. The embedded store takes ~0.25 s to start
 * and the backup job ~0.1 s; with the lineage the domain's last run left (a {@link PlanHints}
 * hint) the planner's answer is usually known long before the store can give it. An attempt so
 * started commits nothing until the plan from the store is found to be the same; otherwise it is
 * cancelled (job ended, its new checkpoint dropped, nothing written) and the run goes on as if it
 * had never started.
 *
 * Only a plan that changes nothing before the backup starts early: no redefine, no checkpoint
 * marked broken, no clean-up but of superseded checkpoints (older than the parent, healthy, of no
 * use to a future backup), which the run then cleans up after the backup. Those steps act on the
 * lineage's word, which a hint is not.
 */
import { planBackup } from '../chain/plan-backup.js';
import { CoreError } from '../errors.js';
import type { DomainLineage } from '../model/lineage.js';
import type { SnapshotManifest } from '../model/manifest.js';
import type { BackupPlan, CleanupItem } from '../model/plan.js';

import type { ReasonCode } from '../model/reasons.js';

import type { BackupRequest, Confirmed } from './ports.js';
import type { RunContext } from './run-context.js';

/** Code of the error an early attempt is cancelled with. */
export const EARLY_START_CANCELLED = 'EARLY_START_CANCELLED';

/** An attempt started from a hint, waiting for its plan to be confirmed. */
export interface EarlyAttempt {
  /** The plan it runs. */
  readonly plan: BackupPlan;
  /** The attempt itself; a cancelled attempt rejects, and nobody is left to see it unhandled. */
  readonly attempt: Promise<SnapshotManifest>;
  /** Lets the attempt commit, recording `reasons` (the store's plan's). */
  confirm(reasons: ReasonCode[]): void;
  /** Cancels the attempt and waits until it has cleaned up. */
  cancel(why: string): Promise<void>;
}

/** Starts `execute` for a hint's plan, or returns null when the run must wait for the store. */
export async function startEarly(
  ctx: RunContext,
  execute: (p: BackupPlan, proceed: Promise<Confirmed>) => Promise<SnapshotManifest>,
): Promise<EarlyAttempt | null> {
  const { deps, observed, request } = ctx;
  if (deps.planHints === undefined || observed.domain.state === 'shut-off') {
    return null;
  }
  const hint = await deps.planHints
    .load(request.repository, observed.domain.uuid)
    .catch(() => null);
  if (hint === null) {
    return null;
  }
  // verify results are not read here (start-up path): a parent that failed verify since the hint
  // was written gives the store's plan a full, which cancels this attempt
  const plan = planFrom(hint, ctx);
  if (plan === null || !changesNothingFirst(plan)) {
    return null;
  }
  let confirm = (_c: Confirmed): void => undefined;
  let cancel = (_e: Error): void => undefined;
  const proceed = new Promise<Confirmed>((resolve, reject) => {
    confirm = resolve;
    cancel = reject;
  });
  proceed.catch(() => undefined);
  const attempt = execute(plan, proceed);
  attempt.catch(() => undefined);
  return {
    plan,
    attempt,
    confirm: (reasons) => confirm({ reasons }),
    cancel: async (why) => {
      cancel(new CoreError(EARLY_START_CANCELLED, `backup started early was cancelled: ${why}`));
      await attempt.catch(() => undefined);
    },
  };
}

/** The plan a hint gives, or null for a hint the planner cannot read (a hint is never trusted). */
function planFrom(hint: DomainLineage, ctx: RunContext): BackupPlan | null {
  try {
    return planBackup(hint, ctx.observed, ctx.request.policy, ctx.deps.clock.now());
  } catch {
    return null;
  }
}

/** True when `p` needs nothing done before its backup starts. */
function changesNothingFirst(p: BackupPlan): boolean {
  const later = (c: CleanupItem): boolean =>
    c.why === 'superseded' && c.checkpoint !== p.incrementalFrom;
  return p.redefine.length === 0 && p.markBroken.length === 0 && p.cleanup.every(later);
}

/**
 * True when the store's plan `actual` asks the executor to copy exactly what the early attempt of
 * `early` copies, and needs nothing done first. Reasons may differ: they are only recorded, and
 * the confirmation carries the store's.
 */
export function samePlan(early: BackupPlan, actual: BackupPlan): boolean {
  return changesNothingFirst(actual) && copied(early) === copied(actual);
}

/** What the executor copies for a plan, as one comparable string. */
function copied(p: BackupPlan): string {
  const r: Pick<BackupRequest, 'level' | 'parentSnapshot' | 'incrementalFrom'> & {
    newCheckpoint: BackupPlan['newCheckpoint'];
  } = {
    level: p.level,
    parentSnapshot: p.parentSnapshot,
    incrementalFrom: p.incrementalFrom,
    newCheckpoint: p.newCheckpoint,
  };
  return JSON.stringify(r);
}
