/** `virtvault fleet runs <id>` for a person: one run's fields as aligned lines. */
import type { CliContext } from '../context.js';

import { cellText, field } from './client.js';

/** An epoch-ms time as ISO text, `-` when absent. */
function at(v: unknown): string {
  return typeof v === 'number' ? cellText(new Date(v).toISOString()) : cellText(v);
}

/** `a (b)`, or `a` alone when `b` is absent. */
function withNote(a: unknown, b: unknown): string {
  const note = cellText(b);
  return note === '-' ? cellText(a) : `${cellText(a)} (${note})`;
}

/** The level taken, and the one planned first when the run had to change it. */
function levelText(run: Record<string, unknown>): string {
  const final = field(run, 'finalLevel');
  const planned = field(run, 'plannedLevel');
  if (final === null || final === undefined) {
    return planned === null || planned === undefined ? '-' : `${cellText(planned)} (planned)`;
  }
  return planned === final || planned === null || planned === undefined
    ? cellText(final)
    : `${cellText(final)} (planned ${cellText(planned)})`;
}

/** The lines of one run (the API's `run` object), labels aligned. */
export function runLines(run: Record<string, unknown>): string[] {
  const error = field(run, 'errorCode');
  const rows: [string, string][] = [
    ['VM', withNote(field(run, 'domainName'), field(run, 'domainUuid'))],
    ['host', cellText(field(run, 'host'))],
    ['repository', cellText(field(run, 'repository'))],
    ['policy', cellText(field(run, 'policy'))],
    ['trigger', cellText(field(run, 'trigger'))],
    ['level', levelText(run)],
    ['reasons', cellText(field(run, 'reasons'))],
    ['started', at(field(run, 'startedAt'))],
    ['finished', at(field(run, 'finishedAt'))],
    ['snapshot', cellText(field(run, 'snapshotId'))],
    ['attempt', cellText(field(run, 'attempt'))],
    ...(typeof error === 'string'
      ? [['error', `${error}: ${cellText(field(run, 'errorMessage'))}`] as [string, string]]
      : []),
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  return [
    `run ${cellText(field(run, 'id'))}: ${cellText(field(run, 'status'))}`,
    ...rows.map(([k, v]) => `  ${`${k}:`.padEnd(width + 1)} ${v}`),
  ];
}

/** Prints one run as text. */
export function printRun(ctx: CliContext, run: unknown): void {
  const r = typeof run === 'object' && run !== null ? (run as Record<string, unknown>) : {};
  ctx.stdout.write(`${runLines(r).join('\n')}\n`);
}
