#!/usr/bin/env node
import { readFileSync } from 'node:fs';

import { CommanderError } from 'commander';

import { buildProgram } from './program.js';

/** Exit code for usage errors, as DESIGN.md section 7 fixes it. */
const EXIT_USAGE = 2;

function readVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

async function main(argv: string[]): Promise<number> {
  const program = buildProgram({ version: readVersion() });
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      // help and version "errors" are commander's way of ending early
      return e.exitCode === 0 ? 0 : EXIT_USAGE;
    }
    throw e;
  }
}

// `virtvault --help | head` closes the pipe early; that is not an error
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') {
    process.exit(0);
  }
  throw e;
});

main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`virtvault: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  },
);
