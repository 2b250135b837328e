/**
 * Steps of `runBackup` that touch checkpoints: recording what the planner found, and clean-up
 * (newest first; per checkpoint metadata first, then bitmaps; failures recorded, never fatal).
 */
import { coerceError } from '../errors.js';
import type { BackupPlan, CleanupItem } from '../model/plan.js';

import { type RunContext, event } from './run-context.js';

/** Records migrations and checkpoints found broken. */
export async function recordFindings(ctx: RunContext, p: BackupPlan): Promise<void> {
  for (const d of p.details.filter((x) => x.code === 'DOMAIN_MIGRATED')) {
    await event(ctx, 'domain-migrated', d.message);
  }
  await markBroken(ctx, p.markBroken);
}

/** Records checkpoints found broken, with a chain-broken event each. */
export async function markBroken(ctx: RunContext, list: BackupPlan['markBroken']): Promise<void> {
  const uuid = ctx.observed.domain.uuid;
  if (list.length === 0) {
    return;
  }
  const updates = list.map((m) => ({
    checkpoint: m.checkpoint,
    state: 'broken' as const,
    reason: m.reason,
  }));
  await ctx.deps.lineage.markCheckpoints(uuid, updates, ctx.deps.clock.now());
  for (const m of list) {
    await event(ctx, 'chain-broken', `checkpoint ${m.checkpoint}: ${m.reason}`);
  }
}

/** Runs one step, recording its failure instead of throwing. */
async function tryStep(ctx: RunContext, what: string, step: () => Promise<void>): Promise<boolean> {
  try {
    await step();
    return true;
  } catch (e) {
    const message = `${what}: ${coerceError(e).message}`;
    ctx.cleanupFailures.push(message);
    await event(ctx, 'cleanup-failed', message);
    return false;
  }
}

/** Cleans up one checkpoint: metadata first, then each bitmap. */
async function cleanOne(ctx: RunContext, item: CleanupItem): Promise<boolean> {
  const { hypervisor } = ctx.deps;
  const uuid = ctx.observed.domain.uuid;
  let ok = true;
  if (item.deleteMetadata) {
    const what = `delete metadata of ${item.checkpoint}`;
    ok = await tryStep(ctx, what, () => hypervisor.deleteCheckpointMetadata(uuid, item.checkpoint));
  }
  for (const b of item.bitmaps) {
    const what = `remove bitmap ${b.bitmap} from ${b.disk}`;
    const removed = await tryStep(ctx, what, () =>
      hypervisor.removeBitmap(uuid, b.disk, b.bitmap, item.via),
    );
    ok = ok && removed;
  }
  return ok;
}

/** Executes the plan's clean-up list in order and records the checkpoints removed. */
export async function cleanUp(ctx: RunContext, items: readonly CleanupItem[]): Promise<void> {
  const removed: { checkpoint: string; state: 'deleted'; reason: string }[] = [];
  for (const item of items) {
    if (await cleanOne(ctx, item)) {
      removed.push({
        checkpoint: item.checkpoint,
        state: 'deleted',
        reason: item.reason ?? item.why,
      });
    }
  }
  if (removed.length > 0) {
    await ctx.deps.lineage.markCheckpoints(ctx.observed.domain.uuid, removed, ctx.deps.clock.now());
  }
}
