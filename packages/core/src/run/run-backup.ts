/**
 * `runBackup`: one backup of one domain over injected ports (DESIGN.md sections 5 and 6).
 *
 * observe → begin run (per-domain guard) → reconcile lineage from the repository's manifests →
 * load lineage → plan → record findings → redefine the parent → clean up → execute (one retry as a
 * full when the incremental is rejected at start) → commit to the lineage, only after the
 * repository committed. Clean-up and redefine failures never fail the run.
 *
 * With plan hints, the backup may start right after the observation, from the plan the last run's
 * lineage gives, while the lineage store opens; it commits only if the store's plan is the same
 * (`early-start.ts`).
 */
import { fallbackToFull } from '../chain/fallback.js';
import { toCheckpointName } from '../chain/checkpoint-names.js';
import { classifyLibvirtMessage } from '../chain/libvirt-errors.js';
import { planBackup } from '../chain/plan-backup.js';
import { CoreError, coerceError, hasErrorCode } from '../errors.js';
import { withVerifyResults } from '../model/lineage.js';
import type { BackupLevel, SnapshotManifest } from '../model/manifest.js';
import type { BackupPlan } from '../model/plan.js';
import type { ReasonCode } from '../model/reasons.js';

import type { Confirmed } from './ports.js';
import {
  type RunBackupDeps,
  type RunBackupRequest,
  type RunContext,
  event,
  keepLease,
} from './run-context.js';
import { type EarlyAttempt, samePlan, startEarly } from './early-start.js';
import { reconcileNotes, withReconcileNotes } from './reconcile-notes.js';
import { cleanUp, markBroken, recordFindings } from './run-steps.js';

export type { RunBackupDeps, RunBackupRequest } from './run-context.js';

/** Outcome of a successful run. */
export interface RunBackupResult {
  /** Run id. */
  runId: string;
  /** The committed snapshot. */
  manifest: SnapshotManifest;
  /** Level the planner chose first. */
  plannedLevel: BackupLevel;
  /** The plan finally executed (after any fallback). */
  plan: BackupPlan;
  /** Backup attempts (2 when an incremental was retried as a full). */
  attempts: number;
  /** Clean-up steps that failed (recorded as events, never fatal). */
  cleanupFailures: string[];
  /**
   * Whether the backup started from a plan hint before the lineage store answered: `kept` (the
   * store's plan was the same), `cancelled` (it was not; the run then took its own), or `none`.
   */
  earlyStart: 'none' | 'kept' | 'cancelled';
}

/** Default lease: longer than any sane backup between two heartbeats. */
const DEFAULT_STALE_MS = 6 * 3_600_000;

/** Starts the run, mapping the store's refusal to `ALREADY_RUNNING`. */
async function begin(ctx: RunContext): Promise<void> {
  const { deps, observed, request } = ctx;
  const domain = { uuid: observed.domain.uuid, name: observed.domain.name };
  const run = {
    id: ctx.runId,
    repository: request.repository,
    domain,
    host: observed.host,
    ...(ctx.earlyCheckpoint !== null ? { newCheckpoint: ctx.earlyCheckpoint } : {}),
  };
  try {
    const stale = request.staleRunAfterMs ?? DEFAULT_STALE_MS;
    const abandoned = await deps.lineage.beginRun({ ...run, startedAt: deps.clock.now() }, stale);
    ctx.begun = true;
    for (const id of abandoned) {
      const message = `run ${id} stopped sending heartbeats and was taken over by ${ctx.runId}`;
      await event(ctx, 'run-abandoned', message);
    }
  } catch (e) {
    if (hasErrorCode(e, 'ALREADY_RUNNING')) {
      const msg = `another backup of ${observed.domain.name} (${observed.domain.uuid}) is running`;
      throw new CoreError('ALREADY_RUNNING', msg, { cause: e });
    }
    throw e;
  }
}

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
async function plan(ctx: RunContext): Promise<BackupPlan> {
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
async function redefine(ctx: RunContext, p: BackupPlan): Promise<BackupPlan> {
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
async function execute(
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
interface Executed {
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
async function executeWithRetry(
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

/** Records the snapshot in the lineage; a failure here leaves the manifest for the next run. */
async function commit(ctx: RunContext, manifest: SnapshotManifest, p: BackupPlan): Promise<void> {
  const { deps, request } = ctx;
  try {
    await deps.lineage.commitSnapshot({
      runId: ctx.runId,
      repository: request.repository,
      manifest,
      plannedLevel: ctx.plannedLevel ?? p.level,
      reasons: p.reasons,
      finishedAt: deps.clock.now(),
    });
  } catch (e) {
    const msg = `snapshot ${manifest.id} is in the repository but not in the lineage`;
    throw new CoreError('LINEAGE_COMMIT_FAILED', msg, { cause: e });
  }
}

/** Keeps the lineage as this run left it for the next run's early start; best effort. */
async function saveHint(ctx: RunContext): Promise<void> {
  const { deps, request, observed } = ctx;
  if (deps.planHints === undefined) {
    return;
  }
  const domain = { uuid: observed.domain.uuid, name: observed.domain.name };
  try {
    await deps.planHints.save(await deps.lineage.loadLineage(request.repository, domain));
  } catch {
    // without a hint the next run waits for the store, as it would without hints at all
  }
}

/** Records the failure of a started run (best effort: the store may be what failed). */
async function fail(ctx: RunContext, err: Error): Promise<CoreError> {
  const code = hasErrorCode(err, 'LINEAGE_COMMIT_FAILED')
    ? 'LINEAGE_COMMIT_FAILED'
    : 'BACKUP_FAILED';
  const errorCode = 'code' in err && typeof err.code === 'string' ? err.code : code;
  const failure = {
    errorCode,
    message: err.message,
    plannedLevel: ctx.plannedLevel,
    reasons: ctx.plan?.reasons ?? [],
    finishedAt: ctx.deps.clock.now(),
  };
  await ctx.deps.lineage.failRun(ctx.runId, failure).catch(() => undefined);
  return err instanceof CoreError
    ? err
    : new CoreError(errorCode, `backup failed: ${err.message}`, { cause: err });
}

/** The steps after the run was started; `early` is an attempt started from a hint. */
async function runStarted(ctx: RunContext, early: EarlyAttempt | null): Promise<RunBackupResult> {
  let p = await plan(ctx);
  ctx.plan = p;
  ctx.plannedLevel = p.level;
  const keep = early !== null && samePlan(early.plan, p) ? early : null;
  if (early !== null && keep === null) {
    await early.cancel('the lineage no longer matches the one the last run left');
  }
  await recordFindings(ctx, p);
  p = await redefine(ctx, p);
  ctx.plan = p;
  await keepLease(ctx);
  if (keep === null) {
    await cleanUp(ctx, p.cleanup);
  }
  await keepLease(ctx);
  // confirmed only now: a failure of any step above must leave the repository untouched
  keep?.confirm(p.reasons);
  const done = await executeWithRetry(ctx, p, keep?.attempt);
  ctx.plan = done.plan;
  await commit(ctx, done.manifest, done.plan);
  if (keep !== null) {
    // only superseded checkpoints, older than the parent: they never mattered to the backup,
    // and the run is committed: a store failing now is the next plan's to clean up, not a failure
    await cleanUp(ctx, p.cleanup).catch((e: unknown) => {
      ctx.cleanupFailures.push(`clean-up after the commit: ${coerceError(e).message}`);
    });
  }
  await saveHint(ctx);
  return {
    runId: ctx.runId,
    manifest: done.manifest,
    plannedLevel: ctx.plannedLevel,
    plan: done.plan,
    attempts: done.attempts,
    cleanupFailures: ctx.cleanupFailures,
    earlyStart: early === null ? 'none' : keep !== null ? 'kept' : 'cancelled',
  };
}

/**
 * Backs up one domain. Throws `CoreError` with code `ALREADY_RUNNING` when another run of the
 * domain is running, `LINEAGE_COMMIT_FAILED` when the snapshot is committed in the repository but
 * not in the lineage (the next run repairs it), `BACKUP_FAILED` or the executor's code otherwise.
 */
export async function runBackup(
  deps: RunBackupDeps,
  request: RunBackupRequest,
): Promise<RunBackupResult> {
  const observed = await deps.hypervisor.observe(request.domain);
  const ctx: RunContext = {
    deps,
    request,
    observed,
    runId: deps.ids.next(),
    plannedLevel: null,
    plan: null,
    cleanupFailures: [],
    begun: false,
    earlyCheckpoint: null,
  };
  const early = await startEarly(ctx, (p, proceed) => execute(ctx, p, proceed));
  try {
    await begin(ctx);
  } catch (e) {
    await early?.cancel('the run could not begin');
    throw e;
  }
  try {
    return await runStarted(ctx, early);
  } catch (e) {
    // a no-op once the attempt was confirmed (it has settled by then)
    await early?.cancel('the run failed');
    throw await fail(ctx, coerceError(e));
  }
}
