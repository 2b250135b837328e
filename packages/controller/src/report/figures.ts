/**
 * The report's figures, shaped from the lineage's rows: VMs with RPO status, and the fleet
 * summary (success rate per host and day, bytes per day, repositories with dedup ratio, chain
 * breaks and fallbacks by reason, migrations). Pure.
 */
import { DEFAULT_RPO_MS, REASONS, isChainBreak, isReasonCode, rpoStatus } from '@virtvault/core';
import type { RpoStatus } from '@virtvault/core';
import type {
  HostDay,
  MigrationSeen,
  ReasonCount,
  RepositoryStats,
  VmStatus,
} from '@virtvault/lineage';

/** A VM with its RPO judgement. */
export interface VmReport extends VmStatus {
  /** RPO status now. */
  rpo: RpoStatus;
  /** The RPO applied, seconds. */
  rpoAppliedSeconds: number;
  /** Age of the last good snapshot, seconds (null: none). */
  ageSeconds: number | null;
}

/** Judges every VM against its RPO (its last policy's, else `defaultRpoMs`). */
export function vmReports(
  rows: readonly VmStatus[],
  now: number,
  defaultRpoMs = DEFAULT_RPO_MS,
): VmReport[] {
  return rows.map((v) => {
    const rpoMs = v.rpoSeconds !== null ? v.rpoSeconds * 1000 : defaultRpoMs;
    const lastGoodAt = v.lastSnapshot?.endedAt ?? null;
    return {
      ...v,
      rpo: rpoStatus({ lastGoodAt, lastRunStatus: v.lastRun?.status ?? null, rpoMs, now }),
      rpoAppliedSeconds: Math.round(rpoMs / 1000),
      ageSeconds: lastGoodAt === null ? null : Math.round((now - lastGoodAt) / 1000),
    };
  });
}

/** The fleet summary. */
export interface FleetSummary {
  /** Window start, ISO. */
  since: string;
  /** VM counts by RPO status. */
  protection: Record<RpoStatus, number>;
  /** Per host and day: runs by outcome and the success rate (null without finished runs). */
  hostDays: (HostDay & { successRate: number | null })[];
  /** Per day: bytes read and new over all hosts. */
  bytesPerDay: { day: string; bytesRead: number; bytesNew: number }[];
  /** Per repository, with the dedup ratio (logical bytes over new bytes; null when nothing new). */
  repositories: (RepositoryStats & { dedupRatio: number | null })[];
  /** Runs whose chain broke, per reason. */
  chainBreaks: ReasonCount[];
  /** Runs that fell back to a full, per reason (breaks plus first fulls and policy fulls). */
  fallbacks: ReasonCount[];
  /** Repairs (checkpoint redefined) and migrations counted by reason. */
  repairs: ReasonCount[];
  /** Migrations seen. */
  migrations: MigrationSeen[];
}

/** Shapes the summary. */
export function summarize(input: {
  since: number;
  vms: readonly VmReport[];
  hostDays: readonly HostDay[];
  repositories: readonly RepositoryStats[];
  reasons: readonly ReasonCount[];
  migrations: readonly MigrationSeen[];
}): FleetSummary {
  const protection: Record<RpoStatus, number> = { ok: 0, 'at-risk': 0, violated: 0, never: 0 };
  for (const v of input.vms) {
    protection[v.rpo]++;
  }
  const days = new Map<string, { day: string; bytesRead: number; bytesNew: number }>();
  for (const d of input.hostDays) {
    const e = days.get(d.day) ?? { day: d.day, bytesRead: 0, bytesNew: 0 };
    e.bytesRead += d.bytesRead;
    e.bytesNew += d.bytesNew;
    days.set(d.day, e);
  }
  const effect = (r: ReasonCount) => (isReasonCode(r.reason) ? REASONS[r.reason].effect : 'info');
  return {
    since: new Date(input.since).toISOString(),
    protection,
    hostDays: input.hostDays.map((d) => {
      const done = d.succeeded + d.failed + d.abandoned;
      return { ...d, successRate: done === 0 ? null : d.succeeded / done };
    }),
    bytesPerDay: [...days.values()].sort((a, b) => a.day.localeCompare(b.day)),
    repositories: input.repositories.map((r) => ({
      ...r,
      dedupRatio: r.bytesNew === 0 ? null : r.logicalBytes / r.bytesNew,
    })),
    chainBreaks: input.reasons.filter((r) => isChainBreak(r.reason)),
    fallbacks: input.reasons.filter((r) => effect(r) === 'full'),
    repairs: input.reasons.filter(
      (r) => r.reason === 'CHECKPOINT_REDEFINED' || r.reason === 'DOMAIN_MIGRATED',
    ),
    migrations: [...input.migrations],
  };
}
