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
import { CoreError, coerceError, hasErrorCode } from '../errors.js';
import type { BackupLevel, SnapshotManifest } from '../model/manifest.js';
import type { BackupPlan } from '../model/plan.js';

import {
  type RunBackupDeps,
  type RunBackupRequest,
  type RunContext,
  event,
  keepLease,
} from './run-context.js';
import { type EarlyAttempt, samePlan, startEarly } from './early-start.js';
import { execute, executeWithRetry } from './run-execute.js';
import { plan, redefine } from './run-plan.js';
import { cleanUp, recordFindings } from './run-steps.js';

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
