/**
 * A run's planning steps: the lineage reconciled from the repository's manifests, the plan, and
 * the redefine of its parent checkpoint (which may turn the plan into a full).
 */
import { fallbackToFull } from '../chain/fallback.js';
import { classifyLibvirtMessage } from '../chain/libvirt-errors.js';
import { planBackup } from '../chain/plan-backup.js';
import { coerceError } from '../errors.js';
import { withVerifyResults } from '../model/lineage.js';
import type { BackupPlan } from '../model/plan.js';

import { type RunContext, event } from './run-context.js';
import { reconcileNotes, withReconcileNotes } from './reconcile-notes.js';
import { markBroken } from './run-steps.js';

/** Repairs the lineage from the repository's manifests (crash between the two commits). */
async function reconcile(ctx: RunContext): Promise<string[]> {
  const { deps, request, observed } = ctx;
  const manifests = await deps.manifests.listManifests(request.repository, observed.domain.uuid);
  const at = deps.clock.now();
  const r = await deps.lineage.reconcile(request.repository, observed.domain.uuid, manifests, at);
  const notes = reconcileNotes(r);
  for (const n of notes) {
    await event(ctx, 'snapshot-reconciled', n);
  }
  return notes;
}

/** Plans the run, adding the reconcile findings. */
export async function plan(ctx: RunContext): Promise<BackupPlan> {
  const { deps, request, observed } = ctx;
  const notes = await reconcile(ctx);
  const domain = { uuid: observed.domain.uuid, name: observed.domain.name };
  const recorded = await deps.lineage.loadLineage(request.repository, domain);
  const verified = await deps.manifests.verifyResults?.(request.repository, domain.uuid);
  const lineage = verified ? withVerifyResults(recorded, verified) : recorded;
  return withReconcileNotes(planBackup(lineage, observed, request.policy, deps.clock.now()), notes);
}

/**
 * Redefines the parent; on refusal the plan becomes a full (`REDEFINE_FAILED`). Only a refusal that
 * names a checkpoint or bitmap problem marks the parent broken and removes its bitmaps; any other
 * failure (a libvirt timeout, libvirtd restarting) leaves it for the next run to try again.
 */
export async function redefine(ctx: RunContext, p: BackupPlan): Promise<BackupPlan> {
  const action = p.redefine[0];
  if (!action) {
    return p;
  }
  try {
    await ctx.deps.hypervisor.redefineCheckpoint(ctx.observed.domain.uuid, action);
    await event(
      ctx,
      'checkpoint-redefined',
      `${action.checkpoint} redefined on ${ctx.observed.host}`,
    );
    return p;
  } catch (e) {
    const err = coerceError(e);
    const cause = classifyLibvirtMessage(err.message);
    const what = cause ?? 'no checkpoint or bitmap problem named; the next run tries again';
    const message = `redefine of ${action.checkpoint} refused (${what}): ${err.message}`;
    await event(ctx, 'fallback-full', message);
    const full = fallbackToFull(p, ctx.observed, 'REDEFINE_FAILED', message);
    if (cause === null) {
      // tonight's backup is still taken; should it fail too, tomorrow's may continue the chain
      const cleanup = full.cleanup.filter((c) => c.checkpoint !== action.checkpoint);
      return { ...full, cleanup, markBroken: p.markBroken };
    }
    await markBroken(ctx, full.markBroken.slice(-1));
    return full;
  }
}
