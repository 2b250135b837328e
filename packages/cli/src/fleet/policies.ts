/**
 * `virtvault fleet policies`: list, set (create or replace from options or a YAML/JSON file),
 * delete. A policy selects VMs (name glob, host, libvirt metadata tag), runs on a cron schedule
 * in a time zone, and carries level rules, retention and the repository.
 */
import { readFile } from 'node:fs/promises';

import type { Command } from 'commander';

import { levelOf } from '../commands/backup.js';
import type { CliContext } from '../context.js';
import { CliError } from '../output.js';
import { positiveDecimal, wholeNumber } from '../whole-number.js';

import { assertRemoved, fleetAction, printAnswer, printList } from './action.js';
import { type Column, callApi, cellText, field } from './client.js';

const POLICY_COLUMNS: Column[] = [
  ['POLICY', (r) => field(r, 'name')],
  ['SCHEDULE', (r) => `${cellText(field(r, 'cron'))} ${cellText(field(r, 'timeZone'))}`],
  ['SELECTOR', (r) => field(r, 'selector')],
  ['LEVEL', (r) => field(r, 'level.level', 'levelRules.level', 'level')],
  ['RETENTION', (r) => field(r, 'retention')],
  ['REPOSITORY', (r) => field(r, 'repository')],
  ['ENABLED', (r) => field(r, 'enabled')],
];

interface SetOptions {
  file?: string;
  cron?: string;
  tz?: string;
  nameGlob?: string;
  host?: string;
  tag?: string;
  repository?: string;
  level?: string;
  maxChain?: string;
  fullEveryDays?: string;
  keepLast?: string;
  keepDaily?: string;
  keepWeekly?: string;
  keepMonthly?: string;
  disabled?: boolean;
  rpoHours?: string;
  webhook?: string[];
  notify?: string;
}

function num(v: string | undefined, name: string): number | undefined {
  return wholeNumber(v, name, 0);
}

function defined(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}

/** A policy file's object (YAML or JSON), the base the options override. */
async function policyFile(file: string): Promise<Record<string, unknown>> {
  const text = await readFile(file, 'utf8').catch((e: unknown) => {
    throw new CliError('USAGE', `cannot read ${file}: ${String(e)}`);
  });
  // imported here: the YAML parser is ~70 modules, ~50 ms that every other command would pay
  const { parse: parseYaml } = await import('yaml');
  let parsed: unknown;
  try {
    parsed = parseYaml(text);
  } catch (e) {
    const why = e instanceof Error ? e.message.split('\n')[0] : String(e);
    throw new CliError('USAGE', `${file} is not valid YAML or JSON: ${why}`);
  }
  if (typeof parsed !== 'object' || parsed === null) {
    throw new CliError('USAGE', `${file} does not hold a policy object`);
  }
  return parsed as Record<string, unknown>;
}

/**
 * A file's value under an option that sets one of its fields: a map, or `level` in its short
 * form (`level: incremental`), which spread as a string became `{"0": "i", ...}`.
 */
function asObject(key: string, v: unknown): Record<string, unknown> {
  if (key === 'level' && typeof v === 'string') {
    return { level: v };
  }
  return typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : {};
}

/** The policy body from the options (a file's content is merged under them). */
async function policyBody(o: SetOptions): Promise<Record<string, unknown>> {
  const base = o.file === undefined ? {} : await policyFile(o.file);
  const fullDays = num(o.fullEveryDays, 'full-every-days');
  const selector = defined({ nameGlob: o.nameGlob, host: o.host, tag: o.tag });
  const level = defined({
    // inc and diff as `backup --level` takes them; the API knows the full names only
    level: o.level === undefined ? undefined : levelOf({ level: o.level }),
    maxChainLength: num(o.maxChain, 'max-chain'),
    maxFullAgeMs: fullDays === undefined ? undefined : fullDays * 86_400_000,
  });
  const retention = defined({
    keepLast: num(o.keepLast, 'keep-last'),
    keepDaily: num(o.keepDaily, 'keep-daily'),
    keepWeekly: num(o.keepWeekly, 'keep-weekly'),
    keepMonthly: num(o.keepMonthly, 'keep-monthly'),
  });
  const merge = (k: string, v: Record<string, unknown>) =>
    Object.keys(v).length === 0 ? {} : { [k]: { ...asObject(k, base[k]), ...v } };
  const rpo = positiveDecimal(o.rpoHours, 'rpo-hours');
  const events = o.notify
    ?.split(',')
    .map((e) => e.trim())
    .filter((e) => e !== '');
  return {
    ...base,
    ...defined({ cron: o.cron, timeZone: o.tz, repository: o.repository, rpoHours: rpo }),
    ...merge('notify', defined({ webhooks: o.webhook, events })),
    ...merge('selector', selector),
    ...merge('level', level),
    ...merge('retention', retention),
    ...(o.disabled ? { enabled: false } : {}),
  };
}

/** Registers `fleet policies`. */
export function registerFleetPolicies(fleet: Command, ctx: () => CliContext): void {
  const policies = fleet.command('policies').description('backup policies: list, set, delete');
  policies
    .command('list', { isDefault: true })
    .description('list policies')
    .option('--json', 'print one JSON document')
    .action(
      fleetAction(ctx, async (c, t, json) => {
        const r = await callApi(t, 'GET', 'api/v1/policies');
        printList(c, json, 'policies', r['policies'], POLICY_COLUMNS);
      }),
    );
  registerPolicySet(policies, ctx);
  registerPolicyDelete(policies, ctx);
}

/** What `fleet policies set --help` says after the options. */
const SET_HELP = `
A policy needs a schedule (--cron) and a repository (--repository), given here or in --file;
the rest has defaults. A retention, when given, needs at least one --keep-* rule above 0 (an
empty one would remove every snapshot). Without one, the policy's snapshots are never pruned.

Example:
  virtvault fleet policies set nightly --name-glob 'web*' --cron '0 2 * * *' --tz Europe/Berlin \\
      --repository main --keep-daily 7 --keep-weekly 4`;

/** `fleet policies set <name>`: create or replace, from options over an optional file. */
function registerPolicySet(policies: Command, ctx: () => CliContext): void {
  policies
    .command('set <name>')
    .description('create or replace a policy (options override the --file content)')
    .option('--file <path>', 'policy as YAML or JSON')
    .option('--cron <expr>', "required: the schedule, e.g. '0 2 * * *'")
    .option('--tz <zone>', 'IANA time zone of the schedule, e.g. Europe/Berlin (default UTC)')
    .option('--name-glob <glob>', "select VMs by name, e.g. 'web*'")
    .option('--host <name>', 'select the VMs on this host')
    .option('--tag <tag>', 'select VMs tagged so in their libvirt metadata')
    .option('--repository <name>', 'required: the repository, as the agents name it')
    .option(
      '--level <auto|full|inc|diff>',
      'backup level (default auto; or incremental, differential)',
    )
    .option('--max-chain <n>', 'snapshots after a full before the next full')
    .option('--full-every-days <n>', 'a full when the last full is this old')
    .option('--keep-last <n>', 'retention: the last N snapshots')
    .option('--keep-daily <n>', 'retention: one per day for N days')
    .option('--keep-weekly <n>', 'retention: one per week for N weeks')
    .option('--keep-monthly <n>', 'retention: one per month for N months')
    .option('--rpo-hours <h>', 'recovery point objective: a VM is unprotected past it (default 26)')
    .option(
      '--webhook <url>',
      'notify this webhook (repeatable)',
      (v: string, prev: string[] = []) => [...prev, v],
    )
    .option('--notify <kinds>', 'rpo-violation,run-failed,chain-break (default: all)')
    .option('--disabled', 'store it without scheduling it')
    .option('--json', 'print one JSON document')
    .addHelpText('after', SET_HELP)
    .action(
      fleetAction(ctx, async (c, t, json, cmd) => {
        const name = cmd.args[0] ?? '';
        const body = await policyBody(cmd.opts<SetOptions>());
        const r = await callApi(t, 'PUT', `api/v1/policies/${encodeURIComponent(name)}`, body);
        printAnswer(c, json, r, `policy ${name} saved`);
      }),
    );
}

/** `fleet policies delete <name>`. */
function registerPolicyDelete(policies: Command, ctx: () => CliContext): void {
  policies
    .command('delete <name>')
    .description('delete a policy and its schedule (snapshots stay)')
    .option('--json', 'print one JSON document')
    .action(
      fleetAction(ctx, async (c, t, json, cmd) => {
        const name = cmd.args[0] ?? '';
        const r = await callApi(t, 'DELETE', `api/v1/policies/${encodeURIComponent(name)}`);
        assertRemoved(r, 'POLICY_NOT_FOUND', `no policy ${name} (see virtvault fleet policies)`);
        printAnswer(c, json, r, `policy ${name} deleted`);
      }),
    );
}
