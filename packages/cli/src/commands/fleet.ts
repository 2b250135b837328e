/**
 * `virtvault fleet …`: operator commands against a controller's HTTP API (`--controller URL`,
 * `--token TOKEN` or the environment). Readable tables by default, `--json` for scripts.
 */
import type { Command } from 'commander';

import type { CliContext } from '../context.js';
import {
  assertRemoved,
  fleetAction,
  positiveInt,
  printAnswer,
  printList,
} from '../fleet/action.js';
import { type Column, callApi, cellText, field } from '../fleet/client.js';
import { registerFleetPolicies } from '../fleet/policies.js';
import { registerFleetReport } from '../fleet/report.js';
import { printRun } from '../fleet/run-text.js';
import { tokenOptions } from '../token-options.js';
import { CliError, printJson } from '../output.js';

const HOST_COLUMNS: Column[] = [
  ['HOST', (r) => field(r, 'name')],
  ['ADDRESS', (r) => field(r, 'address')],
  ['STATE', (r) => field(r, 'state')],
  ['LIMIT', (r) => field(r, 'maxConcurrentBackups', 'maxConcurrent')],
  ['VERSION', (r) => field(r, 'agentVersion')],
  ['LAST CONTACT', (r) => field(r, 'lastContactAt')],
  ['ERROR', (r) => field(r, 'lastError')],
];

const VM_COLUMNS: Column[] = [
  ['VM', (r) => field(r, 'name')],
  ['HOST', (r) => field(r, 'currentHost', 'host')],
  ['STATE', (r) => field(r, 'state')],
  ['RPO', (r) => field(r, 'rpo')],
  [
    'LAST GOOD',
    (r) => {
      const at = field(r, 'lastSnapshot.endedAt');
      return typeof at === 'number' ? new Date(at).toISOString() : at;
    },
  ],
  ['LEVEL', (r) => field(r, 'lastSnapshot.level', 'lastLevel')],
  ['CHAIN', (r) => field(r, 'chainLength')],
  ['POLICY', (r) => field(r, 'policies')],
  ['LAST RUN', (r) => field(r, 'lastRun.status', 'lastRunStatus')],
  ['UUID', (r) => field(r, 'uuid')],
];

const RUN_COLUMNS: Column[] = [
  ['RUN', (r) => field(r, 'id')],
  ['VM', (r) => field(r, 'domainName', 'domain.name', 'domain')],
  ['HOST', (r) => field(r, 'host')],
  ['STATUS', (r) => field(r, 'status')],
  ['LEVEL', (r) => field(r, 'finalLevel', 'plannedLevel')],
  [
    'STARTED',
    (r) => {
      const at = field(r, 'startedAt');
      return typeof at === 'number' ? new Date(at).toISOString() : at;
    },
  ],
  ['REASONS', (r) => field(r, 'reasons')],
  ['ERROR', (r) => field(r, 'errorCode')],
];

function registerHosts(fleet: Command, ctx: () => CliContext): void {
  const hosts = fleet.command('hosts').description('agent hosts: list, add, remove');
  hosts
    .command('list', { isDefault: true })
    .description('list hosts with their agent state')
    .option('--json', 'print one JSON document')
    .action(
      fleetAction(ctx, async (c, t, json) => {
        const r = await callApi(t, 'GET', 'api/v1/hosts');
        printList(c, json, 'hosts', r['hosts'], HOST_COLUMNS);
      }),
    );
  hosts
    .command('add <name> <address>')
    .description('add a host (its agent at ADDRESS, host:port; its certificate must name NAME)')
    .option('--max-concurrent <n>', 'backups at once on this host (default 2)')
    .option('--json', 'print one JSON document')
    .action(
      fleetAction(ctx, async (c, t, json, cmd) => {
        const [name, address] = cmd.args;
        const max = positiveInt(
          cmd.opts<{ maxConcurrent?: string }>().maxConcurrent,
          'max-concurrent',
        );
        const body = { name, address, ...(max !== undefined ? { maxConcurrentBackups: max } : {}) };
        const r = await callApi(t, 'POST', 'api/v1/hosts', body);
        printAnswer(c, json, r, `host ${name ?? ''} added (${address ?? ''})`);
      }),
    );
  hosts
    .command('remove <name>')
    .description('remove a host (its VMs stay in the lineage)')
    .option('--json', 'print one JSON document')
    .action(
      fleetAction(ctx, async (c, t, json, cmd) => {
        const name = cmd.args[0] ?? '';
        const r = await callApi(t, 'DELETE', `api/v1/hosts/${encodeURIComponent(name)}`);
        assertRemoved(r, 'HOST_NOT_FOUND', `no host ${name} (see virtvault fleet hosts)`);
        printAnswer(c, json, r, `host ${name} removed`);
      }),
    );
}

function registerVms(fleet: Command, ctx: () => CliContext): void {
  fleet
    .command('vms')
    .description('VMs across the fleet with their host and last backup')
    .option('--host <name>', 'only VMs on this host')
    .option('--unprotected', 'only VMs without a recent good snapshot')
    .option('--json', 'print one JSON document')
    .action(
      fleetAction(ctx, async (c, t, json, cmd) => {
        const o = cmd.opts<{ host?: string; unprotected?: boolean }>();
        const q = new URLSearchParams();
        if (o.host) {
          q.set('host', o.host);
        }
        if (o.unprotected) {
          q.set('unprotected', 'true');
        }
        const r = await callApi(t, 'GET', `api/v1/vms?${q.toString()}`);
        printList(c, json, 'vms', r['vms'], VM_COLUMNS);
      }),
    );
}

function registerRuns(fleet: Command, ctx: () => CliContext): void {
  fleet
    .command('run')
    .description('enqueue backups now: every VM of a policy, or one VM')
    .option('--policy <name>', 'the policy whose VMs to back up (with --domain: its rules)')
    .option('--domain <name|uuid>', 'one VM (by default under the enabled policy selecting it)')
    .option('--json', 'print one JSON document')
    .action(
      fleetAction(ctx, async (c, t, json, cmd) => {
        const o = cmd.opts<{ policy?: string; domain?: string }>();
        if (o.policy === undefined && o.domain === undefined) {
          throw new CliError('USAGE', 'give --policy, --domain, or both');
        }
        const body = { policy: o.policy, domain: o.domain };
        const r = await callApi(t, 'POST', 'api/v1/runs', body);
        printAnswer(c, json, r, `enqueued: ${cellText(r['enqueued'])}`);
      }),
    );
}

function registerRunList(fleet: Command, ctx: () => CliContext): void {
  fleet
    .command('runs [id]')
    .description('backup runs, newest first; with an id, that run in full')
    .option('--host <name>', 'only runs on this host')
    .option('--vm <name|uuid>', 'only runs of this VM')
    .option('--domain <name|uuid>', 'the same as --vm')
    .option('--status <status>', 'running, succeeded, failed or abandoned')
    .option('--policy <name>', 'only runs of this policy')
    .option(
      '--reason <code>',
      'only runs with this reason code (e.g. BITMAP_MISSING) or error code',
    )
    .option('--since <when>', 'e.g. 7d, 12h or an ISO time')
    .option('--limit <n>', 'at most this many (default 50)', '50')
    .option('--json', 'print one JSON document')
    .action(
      fleetAction(ctx, async (c, t, json, cmd) => {
        const id = cmd.args[0];
        if (id !== undefined) {
          const r = await callApi(t, 'GET', `api/v1/runs/${encodeURIComponent(id)}`);
          if (json) {
            printJson(c, r);
          } else {
            printRun(c, r['run']);
          }
          return;
        }
        const r = await callApi(t, 'GET', `api/v1/runs?${runQuery(cmd).toString()}`);
        printList(c, json, 'runs', r['runs'], RUN_COLUMNS);
      }),
    );
}

/** The query of `fleet runs` from its options; `--domain` is `--vm` by another name. */
function runQuery(cmd: Command): URLSearchParams {
  const o = cmd.opts<Record<string, string | undefined>>();
  if (o['domain'] !== undefined && o['vm'] !== undefined && o['domain'] !== o['vm']) {
    throw new CliError('USAGE', '--domain and --vm are the same filter: give one');
  }
  positiveInt(o['limit'], 'limit');
  const q = new URLSearchParams();
  for (const k of ['host', 'vm', 'status', 'policy', 'reason', 'since', 'limit']) {
    const v = k === 'vm' ? (o['vm'] ?? o['domain']) : o[k];
    if (v !== undefined) {
      q.set(k, v);
    }
  }
  return q;
}

function registerTokens(fleet: Command, ctx: () => CliContext): void {
  const tokens = fleet.command('tokens').description('API tokens (admin): list, create, revoke');
  tokens
    .command('list', { isDefault: true })
    .description('list tokens (never their secrets)')
    .option('--json', 'print one JSON document')
    .action(
      fleetAction(ctx, async (c, t, json) => {
        const r = await callApi(t, 'GET', 'api/v1/tokens');
        printList(c, json, 'tokens', r['tokens'], [
          ['NAME', (x) => field(x, 'name')],
          ['ROLE', (x) => field(x, 'role')],
          ['ID', (x) => field(x, 'id')],
          ['CREATED', (x) => new Date(Number(field(x, 'createdAt'))).toISOString()],
          ['REVOKED', (x) => (field(x, 'revokedAt') === null ? '-' : 'yes')],
        ]);
      }),
    );
  registerTokenCreate(tokens, ctx);
}

function registerTokenCreate(tokens: Command, ctx: () => CliContext): void {
  tokens
    .command('create <name>')
    .description('create a token; it is printed once, store it now')
    .requiredOption('--role <role>', 'viewer (read), operator (+ runs, policies) or admin (all)')
    .option('--expires-in-days <n>', 'expiry (default: never)')
    .option('--json', 'print one JSON document')
    .action(
      fleetAction(ctx, async (c, t, json, cmd) => {
        const o = cmd.opts<{ role: string; expiresInDays?: string }>();
        const body = { name: cmd.args[0], ...tokenOptions(o.role, o.expiresInDays) };
        const r = await callApi(t, 'POST', 'api/v1/tokens', body);
        printAnswer(c, json, r, cellText(r['token']));
      }),
    );
  tokens
    .command('revoke <id-or-name>')
    .description('revoke a token at once')
    .option('--json', 'print one JSON document')
    .action(
      fleetAction(ctx, async (c, t, json, cmd) => {
        const id = cmd.args[0] ?? '';
        const r = await callApi(t, 'DELETE', `api/v1/tokens/${encodeURIComponent(id)}`);
        printAnswer(c, json, r, `revoked ${id}`);
      }),
    );
}

/** Registers `fleet` and its subcommands. */
export function registerFleet(program: Command, ctx: () => CliContext): void {
  const fleet = program
    .command('fleet')
    .description('operate a fleet through its controller: hosts, VMs, policies, runs, tokens')
    .option('--controller <url>', 'controller URL, e.g. http://ctl:8080 (env VIRTVAULT_CONTROLLER)')
    .option('--token <token>', 'API token (env VIRTVAULT_TOKEN)')
    .addHelpText(
      'after',
      `
Roles: viewer reads; operator also runs backups and edits policies; admin also
manages hosts and tokens. The first admin token comes from the controller host:
  DATABASE_URL=… virtvault controller token create admin --role admin

Examples:
  virtvault fleet hosts --controller http://ctl:8080
  virtvault fleet vms --unprotected
  virtvault fleet run --policy nightly
  virtvault fleet runs --status failed --since 7d
  virtvault fleet report --since 7d`,
    );
  registerHosts(fleet, ctx);
  registerVms(fleet, ctx);
  registerFleetPolicies(fleet, ctx);
  registerRuns(fleet, ctx);
  registerRunList(fleet, ctx);
  registerTokens(fleet, ctx);
  registerFleetReport(fleet, ctx);
}
