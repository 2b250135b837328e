/**
 * Output of the CLI: one JSON document with `--json`, readable text otherwise; errors with their
 * stable code; exit codes 0 ok, 1 failed, 2 usage.
 */
import { stableErrorCode } from '@virtvault/core';

import type { CliContext } from './context.js';

/** Exit code of a failed operation. */
export const EXIT_FAILED = 1;
/** Exit code of a usage error. */
export const EXIT_USAGE = 2;

/** A usage error found after argument parsing (bad value, missing combination). */
export class CliError extends Error {
  /** Stable code. */
  readonly code: string;
  /** Exit code. */
  readonly exitCode: number;

  /**
   * @param code stable code (e.g. `USAGE`, `DOMAIN_NOT_FOUND`)
   * @param message what is wrong and what to do
   * @param exitCode exit code @default 2
   */
  constructor(code: string, message: string, exitCode = EXIT_USAGE) {
    super(message);
    this.name = 'CliError';
    this.code = code;
    this.exitCode = exitCode;
  }
}

/** Prints one JSON document. */
export function printJson(ctx: CliContext, value: unknown): void {
  ctx.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  ctx.jsonPrinted = true;
}

/** Formats rows as an aligned text table. */
export function formatTable(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n') + '\n';
}

/** Human-readable bytes (binary units); core's, re-exported for the commands. */
export { formatBytes } from '@virtvault/core';

/** A failure's stable code, message and (when there is one) its cause's message. */
export function errorFields(e: unknown): { code: string; message: string; cause?: string } {
  const code = stableErrorCode(e);
  const message = e instanceof Error ? e.message : String(e);
  const cause = e instanceof Error && e.cause instanceof Error ? e.cause.message : undefined;
  return { code, message, ...(cause ? { cause } : {}) };
}

/** Reports a failure: `{ "error": { code, message } }` with --json, else one line on stderr. */
export function reportError(ctx: CliContext, e: unknown, json: boolean): void {
  const { code, message, cause } = errorFields(e);
  // a failure after the document was printed (closing the lineage, say) goes to stderr: a second
  // document would make stdout unparseable, and the exit code tells the script all the same
  if (json && ctx.jsonPrinted !== true) {
    printJson(ctx, { error: { code, message, ...(cause ? { cause } : {}) } });
  } else {
    ctx.stderr.write(`virtvault: ${code}: ${message}\n`);
    if (cause && !message.includes(cause)) {
      ctx.stderr.write(`  caused by: ${cause}\n`);
    }
  }
  ctx.exitCode = e instanceof CliError ? e.exitCode : EXIT_FAILED;
}

/** Runs a command body, turning any failure into a reported error and an exit code. */
export async function guard(
  ctx: CliContext,
  json: boolean,
  body: () => Promise<void>,
): Promise<void> {
  try {
    await body();
  } catch (e) {
    reportError(ctx, e, json);
  }
}
