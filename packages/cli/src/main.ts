#!/usr/bin/env node
import { setMaxListeners } from 'node:events';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import v8 from 'node:v8';

import { CommanderError } from 'commander';

import type { CliContext, CliEnv } from './context.js';
import { CliError, EXIT_USAGE, reportError } from './output.js';
import { buildProgram } from './program.js';

// The embedded lineage is Postgres compiled to WebAssembly; V8's optimising tier-up of that module
// costs ~530 MiB of RSS and ~4.5 s per start for no gain on a handful of queries (measured: 801 ->
// 264 MiB, 5.7 -> 1.0 s). `--no-wasm-tier-up` alone still lets dynamic tiering compile hot
// functions with TurboFan on background threads (seen in perf: ~3 s of CPU during a backup);
// Liftoff only does not (measured: 1.7 -> 0.9 s CPU, 212 -> 123 MiB peak for open + 50 queries).
// Set before anything instantiates it.
v8.setFlagsFromString('--liftoff-only');
// Each function of that module is compiled on its first call (V8's default), but the whole module
// is still validated up front: ~9 MB of code, most of which a command never runs. Validated on
// first call instead (measured with callgrind, opening the bench's lineage store:
// 2.76 -> 2.50 G instructions).
v8.setFlagsFromString('--wasm-lazy-validation');
// A command lives seconds, on hosts whose cores the VMs need: V8's default budget sends much of our
// JavaScript to TurboFan on background threads (perf of an incremental backup on 2 cores: ~0.3 s of
// CPU compiling, beside workers short of it). Four times the budget still optimises the hot loops.
// Measured on the lab machine, old and new build alternating over fresh change sets: incremental
// wall 1.41/1.37/1.37/1.45 -> 1.21/1.24/1.28/1.39 s (user CPU -0.2 s); a full's copy within noise
// (6 pairs: median 3.69 -> 3.83 s, ranges overlapping).
v8.setFlagsFromString('--interrupt-budget=270336');

function readVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

function loadEnv(env: NodeJS.ProcessEnv): CliEnv {
  return {
    ...(env['DATABASE_URL'] ? { databaseUrl: env['DATABASE_URL'] } : {}),
    ...(env['VIRTVAULT_CONTROLLER'] ? { controllerUrl: env['VIRTVAULT_CONTROLLER'] } : {}),
    ...(env['VIRTVAULT_TOKEN'] ? { token: env['VIRTVAULT_TOKEN'] } : {}),
    noColor: env['NO_COLOR'] !== undefined && env['NO_COLOR'] !== '',
    hostname: hostname(),
  };
}

async function main(argv: string[]): Promise<number> {
  // daemons are programs of their own (signals, logging, exit): dispatched before commander
  if (argv[2] === 'agent') {
    const { runAgentMain } = await import('@virtvault/agent/main');
    return runAgentMain(argv.slice(3));
  }
  // the daemon only for `controller` alone or followed by its options: a word after it (a typo of
  // `token`) goes to commander, which names the unknown command and suggests the right one
  const daemonArgs =
    argv[3] === undefined || (argv[3].startsWith('-') && !['--help', '-h'].includes(argv[3]));
  if (argv[2] === 'controller' && daemonArgs) {
    const { runControllerMain } = await import('@virtvault/controller/main');
    return runControllerMain(argv.slice(3));
  }
  const aborter = new AbortController();
  // every NBD request in flight listens to it
  setMaxListeners(0, aborter.signal);
  // the first signal cancels the work cleanly (jobs ended, files removed); a second one kills
  const onSignal = (sig: NodeJS.Signals) => {
    if (aborter.signal.aborted) {
      process.exit(130);
    }
    process.stderr.write(`virtvault: ${sig}: stopping, cleaning up\n`);
    aborter.abort(new Error(`interrupted by ${sig}`));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const ctx: CliContext = {
    version: readVersion(),
    stdout: process.stdout,
    stderr: process.stderr,
    env: loadEnv(process.env),
    now: () => Date.now(),
    signal: aborter.signal,
    exitCode: 0,
  };
  try {
    return await runCommand(ctx, argv);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** Parses and runs one command; a usage error is exit 2 (with a JSON error under `--json`). */
async function runCommand(ctx: CliContext, argv: string[]): Promise<number> {
  const program = buildProgram({ version: ctx.version, context: () => ctx });
  try {
    await program.parseAsync(argv);
    return ctx.exitCode;
  } catch (e) {
    if (!(e instanceof CommanderError)) {
      throw e;
    }
    // help and version "errors" are commander's way of ending early
    if (e.exitCode === 0) {
      return 0;
    }
    // commander has told a person on stderr; a script that asked for JSON gets it on stdout too
    if (argv.includes('--json')) {
      const message = e.message.replace(/^error: /, '');
      reportError(ctx, new CliError('USAGE', message), true);
    }
    return EXIT_USAGE;
  }
}

// `virtvault ... | head` closes the pipe early. That is no error of ours, nor a reason to stop:
// the command goes on without its stdout and ends with its own exit code (exiting 0 at once had
// left the rest of a `backup --all` undone and a failed verify reported as a success)
let stdoutGone = false;
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE' || stdoutGone) {
    stdoutGone = true;
    return;
  }
  throw e;
});

main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`virtvault: INTERNAL: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  },
);
