/** What `virtvault backup` prints: one run's report, or the runs of several domains. */
import { consistencyOf, explainReason, type RunBackupResult } from '@virtvault/core';

import type { CliContext } from '../context.js';
import { errorFields, formatBytes, printJson } from '../output.js';
import { describePhases, type BackupPhases } from '../phases.js';

/** One finished backup with what was noticed along the way. */
export interface BackupDone {
  result: RunBackupResult;
  /** Notes of the run (why only crash-consistent, a failed thaw). */
  notes: string[];
  durationMs: number;
  phases: BackupPhases | null;
}

/** The `--json` document of one backup. */
export function backupDoc(d: BackupDone): Record<string, unknown> {
  const { result: r, notes, durationMs, phases } = d;
  const m = r.manifest;
  return {
    snapshot: m.id,
    domain: m.domain,
    host: m.host,
    level: m.level,
    consistency: consistencyOf(m),
    notes,
    plannedLevel: r.plannedLevel,
    reasons: m.reasons,
    checkpoint: m.checkpoint?.name ?? null,
    parent: m.parent,
    attempts: r.attempts,
    earlyStart: r.earlyStart,
    runId: r.runId,
    disks: m.disks.map((x) => ({ target: x.target, bytesRead: x.bytesRead, bytesNew: x.bytesNew })),
    cleanupFailures: r.cleanupFailures,
    durationMs,
    ...(phases === null ? {} : { phases }),
  };
}

/** Writes one backup's report: the JSON document, or its lines. */
export function reportBackup(ctx: CliContext, json: boolean, d: BackupDone): void {
  if (json) {
    printJson(ctx, backupDoc(d));
    return;
  }
  const { result: r, notes, durationMs, phases } = d;
  const m = r.manifest;
  const w = (line: string): void => {
    ctx.stdout.write(`${line}\n`);
  };
  w(`${m.level} backup ${m.id} of ${m.domain.name} done in ${(durationMs / 1000).toFixed(1)} s`);
  w(`  consistency: ${consistencyOf(m)}`);
  if (phases !== null) {
    w(`  time: ${describePhases(phases)}`);
  }
  for (const n of notes) {
    w(`  note: ${n}`);
  }
  for (const code of m.reasons) {
    w(`  reason ${code}: ${explainReason(code as Parameters<typeof explainReason>[0])}`);
  }
  for (const x of m.disks) {
    w(`  ${x.target}: read ${formatBytes(x.bytesRead)}, new ${formatBytes(x.bytesNew)}`);
  }
  for (const f of r.cleanupFailures) {
    w(`  warning: clean-up failed: ${f}`);
  }
}

/** How the backup of one of several domains ended. */
export type DomainOutcome =
  { domain: string; ok: true; done: BackupDone } | { domain: string; ok: false; error: unknown };

/**
 * Writes a failed domain's line on stderr, where a single domain's failure goes too (text mode;
 * JSON reports all at the end).
 */
export function reportDomainFailure(ctx: CliContext, domain: string, error: unknown): void {
  const e = errorFields(error);
  ctx.stderr.write(`backup of ${domain} FAILED: ${e.code}: ${e.message}\n`);
}

/** Domains a run over several left out: with no disk to back up, or with disks in use elsewhere. */
export interface SkippedDomains {
  /** No disk to back up. */
  without: string[];
  /** Disks held by another process (`--all`: the domain runs on another host). */
  inUse: string[];
}

/**
 * Ends a run over several domains: the JSON document of every outcome, or a summary line. Exit
 * code 1 when any failed; the others' snapshots are made all the same.
 */
export function reportMany(
  ctx: CliContext,
  json: boolean,
  outcomes: DomainOutcome[],
  skipped: SkippedDomains,
  durationMs: number,
): void {
  const failed = outcomes.filter((o) => !o.ok).map((o) => o.domain);
  if (json) {
    printJson(ctx, {
      runs: outcomes.map((o) =>
        o.ok
          ? { domain: o.domain, ok: true, backup: backupDoc(o.done) }
          : { domain: o.domain, ok: false, error: errorFields(o.error) },
      ),
      failed: failed.length,
      skipped: skipped.without,
      inUseElsewhere: skipped.inUse,
      durationMs,
    });
  } else {
    const done = outcomes.length - failed.length;
    const which = failed.length > 0 ? ` (${failed.join(', ')})` : '';
    ctx.stdout.write(
      `${outcomes.length} domains in ${(durationMs / 1000).toFixed(1)} s: ${done} backed up, ` +
        `${failed.length} failed${which}\n`,
    );
    if (skipped.without.length > 0) {
      ctx.stdout.write(`  skipped, no disk to back up: ${skipped.without.join(', ')}\n`);
    }
    if (skipped.inUse.length > 0) {
      const names = skipped.inUse.join(', ');
      ctx.stdout.write(
        `  skipped, disks in use by another process (running elsewhere?): ${names}\n`,
      );
    }
  }
  if (failed.length > 0) {
    ctx.exitCode = 1;
  }
}
