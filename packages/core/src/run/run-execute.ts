/**
 * A run's execution: the executor called for a plan, and the retries when the plan meets a
 * hypervisor that changed under it (disks changed, an incremental rejected at start, an unreadable
 * parent).
 */
import { fallbackToFull } from '../chain/fallback.js';
import { toCheckpointName } from '../chain/checkpoint-names.js';
import { coerceError, hasErrorCode } from '../errors.js';
import type { SnapshotManifest } from '../model/manifest.js';
import type { BackupPlan } from '../model/plan.js';
import type { ReasonCode } from '../model/reasons.js';

import type { Confirmed } from './ports.js';
import { type RunContext, event, keepLease } from './run-context.js';
import { plan, redefine } from './run-plan.js';
import { cleanUp, markBroken } from './run-steps.js';

/**
 * Tells the lineage the checkpoint the run is about to create; an attempt started before the run
 * was begun hands it to `beginRun` instead (no round trip on the early path).
 */
async function noteCheckpoint(ctx: RunContext, name: string | null): Promise<void> {
  if (name === null) {
    return;
  }
  if (!ctx.begun) {
    ctx.earlyCheckpoint = name;
    return;
  }
  await ctx.deps.lineage.noteCheckpoint(ctx.runId, name);
}

/**
 * Runs the executor for `p` with fresh snapshot and checkpoint ids; `proceed` holds the commit of
 * an attempt started early.
 */
export async function execute(
  ctx: RunContext,
  p: BackupPlan,
  proceed?: Promise<Confirmed>,
): Promise<SnapshotManifest> {
  const { deps, request, observed } = ctx;
  const nc = p.newCheckpoint;
  const snapshotId = deps.ids.next();
  const name = nc ? toCheckpointName(deps.ids.next(), nc.owner) : null;
  await noteCheckpoint(ctx, name);
  return deps.executor.execute({
    repository: request.repository,
    snapshotId,
    observed,
    level: p.level,
    parentSnapshot: p.parentSnapshot,
    incrementalFrom: p.incrementalFrom,
    newCheckpoint: nc && name !== null ? { name, disks: nc.disks, mode: nc.mode } : null,
    reasons: p.reasons,
    ...(request.quiesce === true ? { quiesce: true } : {}),
    heartbeat: () => keepLease(ctx),
    ...(proceed !== undefined ? { proceed } : {}),
  });
}

/** Why an incremental that failed before writing anything is retried as a full, by error code. */
const RETRY_AS_FULL: readonly (readonly [string, ReasonCode])[] = [
  ['INCREMENTAL_REJECTED', 'INCREMENTAL_FAILED'],
  ['PARENT_UNREADABLE', 'PARENT_SNAPSHOT_UNUSABLE'],
];

/** The reason to retry `e` as a full, or null when it fails the run. */
function retryReason(e: unknown): ReasonCode | null {
  return RETRY_AS_FULL.find(([code]) => hasErrorCode(e, code))?.[1] ?? null;
}

/** What executing a plan gave: the manifest, the plan it followed, the attempts it took. */
export interface Executed {
  manifest: SnapshotManifest;
  plan: BackupPlan;
  attempts: number;
}

/**
 * Executes (or awaits `first`, the attempt started early). Disks changed between the look and the
 * job (`DISKS_CHANGED`) give a plan from a fresh look, followed once. An incremental the
 * hypervisor rejected at start is planned again once from a fresh look at the domain when that
 * look differs (see {@link replan}); otherwise, or when it is rejected again, and for an
 * unreadable parent (`PARENT_SNAPSHOT_UNUSABLE`), it is retried once as a full
 * (`INCREMENTAL_FAILED`).
 */
export async function executeWithRetry(
  ctx: RunContext,
  p: BackupPlan,
  first?: Promise<SnapshotManifest>,
  replanned = false,
): Promise<Executed> {
  try {
    return { manifest: await (first ?? execute(ctx, p)), plan: p, attempts: 1 };
  } catch (e) {
    if (hasErrorCode(e, 'DISKS_CHANGED') && !replanned) {
      // the disks changed between the look and the job (one resized, added, removed): the plan
      // of a fresh look, whatever its level, is the one to follow
      const done = await executeWithRetry(ctx, await replan(ctx, p, true), undefined, true);
      return { ...done, attempts: done.attempts + 1 };
    }
    const reason = retryReason(e);
    if (p.level === 'full' || reason === null) {
      throw e;
    }
    const fresh = reason === 'INCREMENTAL_FAILED' && !replanned ? await replan(ctx, p) : null;
    if (fresh !== null) {
      const done = await executeWithRetry(ctx, fresh, undefined, true);
      return { ...done, attempts: done.attempts + 1 };
    }
    const err = coerceError(e);
    const message = `${p.level} from ${p.incrementalFrom ?? '?'} rejected at start: ${err.message}`;
    const full = fallbackToFull(p, ctx.observed, reason, message);
    ctx.plan = full;
    await event(ctx, 'fallback-full', message);
    await markBroken(ctx, full.markBroken.slice(-1));
    await cleanUp(ctx, full.cleanup.slice(0, 1));
    return { manifest: await execute(ctx, full), plan: full, attempts: 2 };
  }
}

/**
 * After an incremental was rejected at start: the domain looked at again and planned again. The
 * hypervisor changed under the run (checkpoint metadata gone since the plan, a domain re-created,
 * a bitmap broken by a QEMU that died): the new plan names why, redefines what it can and the run
 * goes on from that, rather than taking the parent for broken. Null when the new plan is the one
 * that was rejected: nothing explains the rejection, and the retry as a full does.
 */
async function replan(ctx: RunContext, rejected: BackupPlan, always: true): Promise<BackupPlan>;
async function replan(ctx: RunContext, rejected: BackupPlan): Promise<BackupPlan | null>;
async function replan(
  ctx: RunContext,
  rejected: BackupPlan,
  always = false,
): Promise<BackupPlan | null> {
  ctx.observed = await ctx.deps.hypervisor.observe(ctx.observed.domain.uuid);
  const fresh = await plan(ctx);
  const same =
    !always &&
    fresh.level === rejected.level &&
    fresh.incrementalFrom === rejected.incrementalFrom &&
    fresh.redefine.length === 0;
  if (same) {
    return null;
  }
  ctx.plan = fresh;
  // the first plan's findings are recorded (a migration is one event), what broke since is not
  await markBroken(ctx, fresh.markBroken);
  const p = await redefine(ctx, fresh);
  ctx.plan = p;
  await keepLease(ctx);
  await cleanUp(ctx, p.cleanup);
  await keepLease(ctx);
  return p;
}
