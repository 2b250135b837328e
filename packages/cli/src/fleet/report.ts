/**
 * `virtvault fleet report`: the morning report — protection of every VM, success rates per host
 * and day, bytes, repositories with their dedup ratio, chain breaks and migrations — as tables,
 * or one JSON document with `--json`.
 */
import type { Command } from 'commander';

import type { CliContext } from '../context.js';
import { formatBytes, formatTable, printJson } from '../output.js';

import { fleetAction } from './action.js';
import { callApi, cellText } from './client.js';

interface Summary {
  since: string;
  protection: Record<string, number>;
  hostDays: {
    host: string;
    day: string;
    succeeded: number;
    failed: number;
    abandoned: number;
    successRate: number | null;
    bytesRead: number;
    bytesNew: number;
  }[];
  repositories: {
    repository: string;
    snapshots: number;
    logicalBytes: number;
    bytesNew: number;
    dedupRatio: number | null;
  }[];
  chainBreaks: { reason: string; runs: number }[];
  repairs: { reason: string; runs: number }[];
  migrations: { name: string; fromHost: string | null; toHost: string; at: number }[];
}

interface Vm {
  name: string;
  currentHost: string | null;
  rpo: string;
  ageSeconds: number | null;
  lastRun: { status: string; errorCode: string | null } | null;
}

const pct = (r: number | null) => (r === null ? '-' : `${Math.round(r * 100)}%`);

function ageText(s: number | null): string {
  if (s === null) {
    return 'never';
  }
  const h = Math.floor(s / 3600);
  return h >= 48 ? `${Math.floor(h / 24)}d` : `${h}h${Math.floor((s % 3600) / 60)}m`;
}

/** One table of the report. */
interface Section {
  title: string;
  headers: string[];
  rows: string[][];
}

function printReport(ctx: CliContext, s: Summary, vms: Vm[]): void {
  const p = s.protection;
  ctx.stdout.write(
    `virtvault fleet report since ${s.since}\n` +
      `VMs: ${p['ok'] ?? 0} protected, ${p['at-risk'] ?? 0} at risk, ` +
      `${p['violated'] ?? 0} RPO violated, ${p['never'] ?? 0} never backed up\n`,
  );
  for (const { title, headers, rows } of [attention(vms), ...summarySections(s)]) {
    ctx.stdout.write(`\n${title}\n`);
    ctx.stdout.write(rows.length === 0 ? '  none\n' : formatTable(headers, rows));
  }
}

/** The VMs whose RPO is not met, with their last run. */
function attention(vms: Vm[]): Section {
  const rows = vms
    .filter((v) => v.rpo !== 'ok')
    .map((v) => [
      v.name,
      v.currentHost ?? '-',
      v.rpo,
      ageText(v.ageSeconds),
      v.lastRun?.status ?? '-',
      v.lastRun?.errorCode ?? '-',
    ]);
  return {
    title: 'Needs attention',
    headers: ['VM', 'HOST', 'RPO', 'LAST GOOD', 'LAST RUN', 'ERROR'],
    rows,
  };
}

/** The summary's tables: runs per host and day, repositories, chain breaks, migrations. */
function summarySections(s: Summary): Section[] {
  const hostDays = s.hostDays.map((d) => [
    d.day,
    d.host,
    String(d.succeeded),
    String(d.failed + d.abandoned),
    pct(d.successRate),
    formatBytes(d.bytesRead),
    formatBytes(d.bytesNew),
  ]);
  const repositories = s.repositories.map((r) => [
    r.repository,
    String(r.snapshots),
    formatBytes(r.logicalBytes),
    formatBytes(r.bytesNew),
    r.dedupRatio === null ? '-' : `${r.dedupRatio.toFixed(1)}x`,
  ]);
  const breaks = [...s.chainBreaks, ...s.repairs].map((r) => [r.reason, String(r.runs)]);
  const migrations = s.migrations.map((m) => [
    cellText(new Date(m.at).toISOString()),
    m.name,
    m.fromHost ?? '-',
    m.toHost,
  ]);
  return [
    {
      title: 'Runs per host and day',
      headers: ['DAY', 'HOST', 'OK', 'FAILED', 'SUCCESS', 'READ', 'NEW'],
      rows: hostDays,
    },
    {
      title: 'Repositories',
      headers: ['REPOSITORY', 'SNAPSHOTS', 'LOGICAL', 'NEW', 'DEDUP'],
      rows: repositories,
    },
    {
      title: 'Chain breaks and repairs (runs by reason)',
      headers: ['REASON', 'RUNS'],
      rows: breaks,
    },
    { title: 'Migrations seen', headers: ['WHEN', 'VM', 'FROM', 'TO'], rows: migrations },
  ];
}

/** Registers `fleet report`. */
export function registerFleetReport(fleet: Command, ctx: () => CliContext): void {
  fleet
    .command('report')
    .description('the fleet report: protection, success rates, bytes, dedup, breaks, migrations')
    .option('--since <when>', 'window, e.g. 7d, 24h or an ISO time', '7d')
    .option('--json', 'print one JSON document')
    .action(
      fleetAction(ctx, async (c, t, json, cmd) => {
        const since = cmd.opts<{ since: string }>().since;
        const q = new URLSearchParams({ since });
        const [s, v] = await Promise.all([
          callApi(t, 'GET', `api/v1/summary?${q.toString()}`),
          callApi(t, 'GET', 'api/v1/vms'),
        ]);
        const summary = s['summary'] as Summary;
        const vms = (v['vms'] ?? []) as Vm[];
        if (json) {
          printJson(c, { summary, vms });
          return;
        }
        printReport(c, summary, vms);
      }),
    );
}
