/** `virtvault prune`: apply a GFS retention policy and remove the snapshots it does not keep. */
import type { Command } from 'commander';

import { isTimeZone, type RetentionPolicy } from '@virtvault/core';

import type { CliContext } from '../context.js';
import { loadRepo } from '../lazy.js';
import { CliError, guard, printJson } from '../output.js';
import { findSnapshot, openRepository } from '../repo-access.js';
import { wholeNumber } from '../whole-number.js';

interface Options {
  repo: string;
  domain?: string;
  keepLast?: string;
  keepHourly?: string;
  keepDaily?: string;
  keepWeekly?: string;
  keepMonthly?: string;
  keepYearly?: string;
  timeZone?: string;
  tz?: string;
  dryRun?: boolean;
  json?: boolean;
}

function count(name: string, v: string | undefined): number | undefined {
  return wholeNumber(v, name, 0);
}

function policyOf(o: Options): RetentionPolicy {
  const p: RetentionPolicy = {};
  const rules = [
    ['keep-last', 'keepLast', o.keepLast],
    ['keep-hourly', 'keepHourly', o.keepHourly],
    ['keep-daily', 'keepDaily', o.keepDaily],
    ['keep-weekly', 'keepWeekly', o.keepWeekly],
    ['keep-monthly', 'keepMonthly', o.keepMonthly],
    ['keep-yearly', 'keepYearly', o.keepYearly],
  ] as const;
  for (const [flag, key, v] of rules) {
    const n = count(flag, v);
    if (n !== undefined) {
      p[key] = n;
    }
  }
  if (!Object.values(p).some((n) => n > 0)) {
    throw new CliError(
      'USAGE',
      'give at least one --keep-* rule above 0 (prune never empties a domain by default)',
    );
  }
  return p;
}

/** The zone of --time-zone (or --tz), checked here so a typo is a usage error before any work. */
function timeZoneOf(o: Options): string {
  if (o.timeZone !== undefined && o.tz !== undefined && o.timeZone !== o.tz) {
    throw new CliError('USAGE', '--tz is --time-zone by another name: give one');
  }
  const zone = o.timeZone ?? o.tz ?? 'UTC';
  if (!isTimeZone(zone)) {
    throw new CliError('USAGE', `--time-zone ${zone} is no IANA time zone (e.g. Europe/Berlin)`);
  }
  return zone;
}

/** Registers `prune`. */
export function registerPrune(program: Command, ctx: () => CliContext): void {
  program
    .command('prune')
    .description('remove snapshots a grandfather-father-son retention policy does not keep')
    .requiredOption('--repo <dir>', 'repository directory')
    .option('--domain <name|uuid>', 'only this domain (default: each domain on its own)')
    .option('--keep-last <n>', 'the newest n snapshots')
    .option('--keep-hourly <n>', 'the newest snapshot of each of the last n hours')
    .option('--keep-daily <n>', 'the newest snapshot of each of the last n days')
    .option('--keep-weekly <n>', 'the newest snapshot of each of the last n weeks')
    .option('--keep-monthly <n>', 'the newest snapshot of each of the last n months')
    .option('--keep-yearly <n>', 'the newest snapshot of each of the last n years')
    .option('--time-zone <iana>', 'time zone of days, weeks, months (default UTC)')
    .option('--tz <iana>', 'the same as --time-zone')
    .option('--dry-run', 'show what would be removed, remove nothing')
    .option('--json', 'print one JSON document')
    .addHelpText(
      'after',
      `
Every snapshot stands alone, so any snapshot can be removed without harming another. Still,
each domain's newest full is always kept (reason "base"): the next differential builds on it,
and without it that run would have to take a full. Run 'virtvault gc' afterwards to free the
chunks no snapshot uses any more. A Ctrl-C stops prune between two removals (REPO_INTERRUPTED);
every snapshot is then either removed or whole, and running prune again finishes the job.
A snapshot a running backup builds on, or a restore reads, is kept for now (listed as in use).

Examples:
  virtvault prune --repo /backups --keep-daily 7 --keep-weekly 4 --dry-run
  virtvault prune --repo /backups --keep-daily 7 --keep-weekly 4 --keep-monthly 6 --tz Europe/Berlin
  virtvault gc --repo /backups`,
    )
    .action((o: Options) => run(ctx(), o));
}

async function run(ctx: CliContext, o: Options): Promise<void> {
  await guard(ctx, o.json === true, async () => {
    const policy = policyOf(o);
    const timeZone = timeZoneOf(o);
    const repo = await openRepository(o.repo);
    try {
      const domain =
        o.domain === undefined
          ? undefined
          : (await findSnapshot(repo, o.domain, 'latest')).domain.uuid;
      const opts = { policy, timeZone, dryRun: o.dryRun === true, ...(domain ? { domain } : {}) };
      const r = await (await loadRepo()).prune(repo, { ...opts, signal: ctx.signal });
      if (o.json) {
        printJson(ctx, r);
        return;
      }
      for (const k of r.kept) {
        ctx.stdout.write(`keep    ${k.snapshot} (${k.reasons.join(', ')})\n`);
      }
      for (const s of r.removed) {
        ctx.stdout.write(`${o.dryRun ? 'would remove' : 'removed'} ${s}\n`);
      }
      for (const s of r.damaged) {
        ctx.stdout.write(`left    ${s} (its manifest cannot be read; see virtvault verify)\n`);
      }
      for (const s of r.inUse) {
        ctx.stdout.write(`kept    ${s} (a running backup builds on it)\n`);
      }
    } finally {
      await repo.close();
    }
  });
}
