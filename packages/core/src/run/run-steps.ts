/**
 * Steps of `runBackup` that touch checkpoints: recording what the planner found, and clean-up
 * (newest first; per checkpoint metadata first, then bitmaps; failures recorded, never fatal).
 */
import { coerceError } from '../errors.js';
import type { BackupPlan, CleanupItem } from '../model/plan.js';

import type { CheckpointStateUpdate, LineageStore } from './ports.js';
import { type RunContext, event, keepLease } from './run-context.js';

/**
 * Records checkpoints found broken, with a `chain-broken` event each: what a run does, and what
 * `doctor --fix` does (`runId` null, `note` saying so), so both leave the lineage alike.
 */
export async function recordBroken(
  lineage: Pick<LineageStore, 'markCheckpoints' | 'recordEvent'>,
  at: { domainUuid: string; runId: string | null; time: number },
  list: BackupPlan['markBroken'],
  note = '',
): Promise<void> {
  if (list.length === 0) {
    return;
  }
  const updates = list.map((m) => ({
    checkpoint: m.checkpoint,
    state: 'broken' as const,
    reason: m.reason,
  }));
  await lineage.markCheckpoints(at.domainUuid, updates, at.time);
  for (const m of list) {
    const message = `checkpoint ${m.checkpoint}: ${m.reason}${note}`;
    const { domainUuid, runId, time } = at;
    await lineage.recordEvent({ domainUuid, runId, at: time, kind: 'chain-broken', message });
  }
}

/** The lineage's record of clean-up items carried out whole: deleted, with the reason. */
export function removedUpdates(items: readonly CleanupItem[]): CheckpointStateUpdate[] {
  return items.map((item) => ({
    checkpoint: item.checkpoint,
    state: 'deleted',
    reason: item.reason ?? item.why,
  }));
}

/** Records migrations and checkpoints found broken. */
export async function recordFindings(ctx: RunContext, p: BackupPlan): Promise<void> {
  for (const d of p.details.filter((x) => x.code === 'DOMAIN_MIGRATED')) {
    await event(ctx, 'domain-migrated', d.message);
  }
  await markBroken(ctx, p.markBroken);
}

/** Records checkpoints found broken, with a chain-broken event each. */
export async function markBroken(ctx: RunContext, list: BackupPlan['markBroken']): Promise<void> {
  const at = { domainUuid: ctx.observed.domain.uuid, runId: ctx.runId, time: ctx.deps.clock.now() };
  await recordBroken(ctx.deps.lineage, at, list);
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

/**
 * Cleans up one checkpoint: metadata first, then each bitmap. When the metadata stays (its delete
 * failed), so do the bitmaps: libvirt then holds no checkpoint without its bitmaps, which
 * validation would refuse and every later redefine or backup would stumble on.
 */
async function cleanOne(ctx: RunContext, item: CleanupItem): Promise<boolean> {
  const { hypervisor } = ctx.deps;
  const uuid = ctx.observed.domain.uuid;
  if (item.deleteMetadata) {
    const what = `delete metadata of ${item.checkpoint}`;
    const ok = await tryStep(ctx, what, () =>
      hypervisor.deleteCheckpointMetadata(uuid, item.checkpoint),
    );
    if (!ok) {
      return false;
    }
  }
  let ok = true;
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
  const removed: CleanupItem[] = [];
  try {
    for (const item of items) {
      if (await cleanOne(ctx, item)) {
        removed.push(item);
      }
      // each item is a few hypervisor calls (qemu-img on a large image takes seconds): without a
      // heartbeat between them, a long clean-up looked like a crashed run, and another run of the
      // domain took it over while it went on
      await keepLease(ctx);
    }
  } finally {
    // also when the lease was lost: what was removed is recorded, for the run that took over
    if (removed.length > 0) {
      const updates = removedUpdates(removed);
      const at = ctx.deps.clock.now();
      await ctx.deps.lineage.markCheckpoints(ctx.observed.domain.uuid, updates, at);
    }
  }
}
