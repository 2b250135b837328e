/**
 * The dependencies, request and shared state of one `runBackup` run.
 */
import { CoreError } from '../errors.js';
import type { BackupLevel } from '../model/manifest.js';
import type { ObservedDomain } from '../model/observed.js';
import type { BackupPlan } from '../model/plan.js';
import type { LevelPolicy } from '../model/policy.js';

import type {
  BackupExecutor,
  Clock,
  Hypervisor,
  IdGenerator,
  LineageEventKind,
  LineageStore,
  ManifestSource,
  PlanHints,
} from './ports.js';

/** The ports runBackup drives. */
export interface RunBackupDeps {
  /** Hypervisor port. */
  hypervisor: Hypervisor;
  /** Backup executor (engine). */
  executor: BackupExecutor;
  /** Lineage store. */
  lineage: LineageStore;
  /** Repository manifests. */
  manifests: ManifestSource;
  /** Time. */
  clock: Clock;
  /** Ids. */
  ids: IdGenerator;
  /** Where the last run's lineage is kept for an early start; omitted = never start early. */
  planHints?: PlanHints;
}

/** What to back up. */
export interface RunBackupRequest {
  /** Domain name or UUID. */
  domain: string;
  /** Repository. */
  repository: string;
  /** Level rules. */
  policy: LevelPolicy;
  /** Freeze the guest's filesystems for the backup (see `BackupRequest.quiesce`). */
  quiesce?: boolean;
  /** A running run without heartbeat for this long is taken over. @default 21600000 (6 h) */
  staleRunAfterMs?: number;
}

/** State of one run, shared by its steps. */
export interface RunContext {
  deps: RunBackupDeps;
  request: RunBackupRequest;
  observed: ObservedDomain;
  runId: string;
  plannedLevel: BackupLevel | null;
  plan: BackupPlan | null;
  cleanupFailures: string[];
  /** Whether the lineage has the run (its `beginRun` succeeded). */
  begun: boolean;
  /** The new checkpoint of an attempt started before the run was begun, for `beginRun`. */
  earlyCheckpoint: string | null;
}

/** Records one event of this run. */
export async function event(
  ctx: RunContext,
  kind: LineageEventKind,
  message: string,
): Promise<void> {
  const at = ctx.deps.clock.now();
  const domainUuid = ctx.observed.domain.uuid;
  await ctx.deps.lineage.recordEvent({ domainUuid, runId: ctx.runId, at, kind, message });
}

/**
 * Renews the run's lease; throws `RUN_TAKEN_OVER` when the lineage says another run took the
 * domain over (this run's heartbeats had stalled): going on would race that run on the domain.
 */
export async function keepLease(ctx: RunContext): Promise<void> {
  // an attempt started early beats before the run is begun: there is no lease yet to lose
  if (ctx.begun && !(await ctx.deps.lineage.heartbeat(ctx.runId, ctx.deps.clock.now()))) {
    const msg = `run ${ctx.runId} of ${ctx.observed.domain.name} was taken over by a later run; it stops`;
    throw new CoreError('RUN_TAKEN_OVER', msg);
  }
}
