/** Shared plumbing of the `fleet` commands: target resolution, error handling, list output. */
import type { Command } from 'commander';

import type { CliContext } from '../context.js';
import { CliError, EXIT_FAILED, formatTable, guard, printJson } from '../output.js';

import { wholeNumber } from '../whole-number.js';
import { type Column, type FleetTarget, cellText } from './client.js';

interface Globals {
  controller?: string;
  token?: string;
  json?: boolean;
}

/** The controller and token from options, else the environment; a usage error when missing. */
export function fleetTarget(ctx: CliContext, cmd: Command): FleetTarget {
  const g = cmd.optsWithGlobals<Globals>();
  const controller = g.controller ?? ctx.env.controllerUrl;
  const token = g.token ?? ctx.env.token;
  if (controller === undefined) {
    throw new CliError('USAGE', 'give --controller URL (or set VIRTVAULT_CONTROLLER)');
  }
  if (token === undefined) {
    throw new CliError('USAGE', 'give --token TOKEN (or set VIRTVAULT_TOKEN)');
  }
  return { controller, token, signal: ctx.signal };
}

/** Runs a fleet command body with errors reported and `--json` honoured. */
export function fleetAction(
  ctx: () => CliContext,
  body: (c: CliContext, t: FleetTarget, json: boolean, cmd: Command) => Promise<void>,
): (...args: unknown[]) => Promise<void> {
  return async (...args: unknown[]) => {
    const cmd = args.at(-1) as Command;
    const c = ctx();
    const json = cmd.optsWithGlobals<Globals>().json === true;
    await guard(c, json, async () => body(c, fleetTarget(c, cmd), json, cmd));
  };
}

/** Prints `list` as JSON (`{key: list}`) or as a table. */
export function printList(
  ctx: CliContext,
  json: boolean,
  key: string,
  list: unknown,
  columns: Column[],
): void {
  const rows = Array.isArray(list) ? (list as Record<string, unknown>[]) : [];
  if (json) {
    printJson(ctx, { [key]: rows });
    return;
  }
  if (rows.length === 0) {
    ctx.stdout.write(`no ${key}\n`);
    return;
  }
  const table = rows.map((r) => columns.map(([, cell]) => cellText(cell(r))));
  ctx.stdout.write(
    formatTable(
      columns.map(([h]) => h),
      table,
    ),
  );
}

/** Prints the controller's answer `r` as JSON, or one line of text for a person. */
export function printAnswer(
  ctx: CliContext,
  json: boolean,
  r: Record<string, unknown>,
  line: string,
): void {
  if (json) {
    printJson(ctx, r);
  } else {
    ctx.stdout.write(`${line}\n`);
  }
}

/**
 * A whole number >= 1 from option `flag`, or undefined when not given. Throws `USAGE`: checked
 * here, before any request, so a typo is exit 2 and never a request the controller refuses.
 */
export function positiveInt(v: string | undefined, flag: string): number | undefined {
  if (v === undefined) {
    return undefined;
  }
  return wholeNumber(v, flag, 1);
}

/**
 * Checks a removal's answer: the API says `{"removed": false}` for a name it does not know, which
 * is a failure (`code`, exit 1) and not a success to print.
 */
export function assertRemoved(r: Record<string, unknown>, code: string, message: string): void {
  if (r['removed'] === false) {
    throw new CliError(code, message, EXIT_FAILED);
  }
}
