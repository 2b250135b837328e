/**
 * A VM's chain as a timeline: snapshots (fulls, incrementals, differentials), the chain breaks
 * that forced fulls (with their reasons), repairs, failed runs and migrations between hosts,
 * oldest first. Pure: built from lineage rows the caller loaded.
 */
import { isChainBreak } from './rpo.js';

/** A committed (or later deleted) snapshot. */
export interface TimelineSnapshot {
  /** Snapshot id. */
  id: string;
  /** Level. */
  level: 'full' | 'incremental' | 'differential';
  /** Host it was taken on. */
  host: string;
  /** Repository. */
  repository: string;
  /** Epoch ms. */
  endedAt: number;
  /** Reason codes of its run. */
  reasons: readonly string[];
  /** Status in the lineage (`committed`, `deleted`, …). */
  status: string;
}

/** A run that did not produce a snapshot. */
export interface TimelineFailedRun {
  /** Run id. */
  id: string;
  /** Host. */
  host: string;
  /** `failed` or `abandoned`. */
  status: string;
  /** Epoch ms. */
  at: number;
  /** Error code. */
  errorCode: string | null;
  /** Message. */
  message: string | null;
}

/** A move of the VM to another host. */
export interface TimelineMigration {
  /** Epoch ms. */
  at: number;
  /** Previous host (null when unknown). */
  fromHost: string | null;
  /** New host. */
  toHost: string;
}

/** One entry of the timeline. */
export interface TimelineEntry {
  /** Epoch ms. */
  at: number;
  /** What happened. */
  kind: 'full' | 'incremental' | 'differential' | 'break' | 'repair' | 'failed' | 'migration';
  /** Host where it happened (the new host for a migration). */
  host: string;
  /** One line for people. */
  label: string;
  /** Reason or error codes. */
  codes: string[];
  /** Snapshot id, run id, or (for a migration) the previous host, empty when unknown. */
  ref: string;
}

function snapshotEntries(s: TimelineSnapshot): TimelineEntry[] {
  const breaks = s.reasons.filter(isChainBreak);
  const out: TimelineEntry[] = [];
  if (breaks.length > 0) {
    out.push({
      at: s.endedAt,
      kind: 'break',
      host: s.host,
      label: `chain broken: ${breaks.join(', ')}; a full was taken`,
      codes: breaks,
      ref: s.id,
    });
  }
  if (s.reasons.includes('CHECKPOINT_REDEFINED')) {
    out.push({
      at: s.endedAt,
      kind: 'repair',
      host: s.host,
      label: 'checkpoint redefined from the lineage; the chain continued',
      codes: ['CHECKPOINT_REDEFINED'],
      ref: s.id,
    });
  }
  out.push({
    at: s.endedAt,
    kind: s.level,
    host: s.host,
    label: `${s.level} ${s.id}${s.status === 'committed' ? '' : ` (${s.status})`}`,
    codes: [...s.reasons],
    ref: s.id,
  });
  return out;
}

const ORDER: Record<TimelineEntry['kind'], number> = {
  migration: 0,
  failed: 1,
  break: 2,
  repair: 3,
  full: 4,
  differential: 4,
  incremental: 4,
};

/** Builds the timeline, oldest first (at equal times: migration, failure, break, repair, snapshot). */
export function buildTimeline(
  snapshots: readonly TimelineSnapshot[],
  failed: readonly TimelineFailedRun[],
  migrations: readonly TimelineMigration[],
): TimelineEntry[] {
  const entries: TimelineEntry[] = [
    ...snapshots.flatMap(snapshotEntries),
    ...failed.map((r) => ({
      at: r.at,
      kind: 'failed' as const,
      host: r.host,
      label: `run ${r.status}: ${r.errorCode ?? 'no code'}${r.message ? ` — ${r.message}` : ''}`,
      codes: r.errorCode ? [r.errorCode] : [],
      ref: r.id,
    })),
    ...migrations.map((m) => ({
      at: m.at,
      kind: 'migration' as const,
      host: m.toHost,
      label: `moved ${m.fromHost ?? '?'} → ${m.toHost}`,
      codes: [],
      ref: m.fromHost ?? '',
    })),
  ];
  return entries.sort((a, b) => a.at - b.at || ORDER[a.kind] - ORDER[b.kind]);
}
