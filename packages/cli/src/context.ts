/**
 * What every command gets: output streams, the environment as `main.ts` read it, the clock, and
 * a cancellation signal (SIGINT/SIGTERM). Commands never read `process` themselves.
 */

/** A writable text stream. */
export interface TextOut {
  /** Writes text. */
  write(text: string): unknown;
  /** True on a terminal. */
  isTTY?: boolean;
}

/** The environment as `main.ts` resolved it. */
export interface CliEnv {
  /** Postgres for the lineage instead of the embedded store (`DATABASE_URL`). */
  databaseUrl?: string;
  /** No colours, no progress bars (`NO_COLOR`). */
  noColor: boolean;
  /** This host's name. */
  hostname: string;
  /** Controller URL for `fleet` commands (`VIRTVAULT_CONTROLLER`). */
  controllerUrl?: string;
  /** API token for `fleet` commands (`VIRTVAULT_TOKEN`). */
  token?: string;
}

/** The context of one command invocation. */
export interface CliContext {
  /** The virtvault version. */
  version: string;
  /** Standard output. */
  stdout: TextOut;
  /** Standard error. */
  stderr: TextOut;
  /** Environment. */
  env: CliEnv;
  /** Wall clock, epoch ms. */
  now: () => number;
  /** Aborted on SIGINT/SIGTERM. */
  signal: AbortSignal;
  /** Exit code the command chose (0 unless set). */
  exitCode: number;
  /** Set once the command's `--json` document is on stdout (see `printJson`). */
  jsonPrinted?: boolean;
}
