/**
 * `virtvault-controller --config FILE`: one controller replica. Reads `DATABASE_URL` and
 * `REDIS_URL` (the only place the controller reads the environment); SIGTERM or SIGINT stops it
 * gracefully and exits 0.
 */
import { parseArgs } from 'node:util';

import { loadConfig } from './config.js';
import { Controller } from './controller.js';
import { ControllerError, codeOf, messageOf } from './errors.js';

function env(name: string): string {
  const v = process.env[name];
  if (v === undefined || v === '') {
    throw new ControllerError('CONFIG_INVALID', `environment variable ${name} is not set`);
  }
  return v;
}

/** Runs the controller until a signal; returns the exit code (2 for usage errors). */
export async function runControllerMain(argv: readonly string[]): Promise<number> {
  let configPath: string | undefined;
  try {
    const { values } = parseArgs({
      args: [...argv],
      options: { config: { type: 'string' } },
      strict: true,
    });
    configPath = values.config;
  } catch (e) {
    process.stderr.write(`virtvault-controller: ${messageOf(e)}\n`);
  }
  if (configPath === undefined) {
    process.stderr.write('usage: virtvault-controller --config FILE\n');
    return 2;
  }
  try {
    const config = await loadConfig(configPath);
    const controller = new Controller({
      config,
      databaseUrl: env('DATABASE_URL'),
      redisUrl: env('REDIS_URL'),
    });
    await controller.start();
    await new Promise<void>((resolve) => {
      process.once('SIGTERM', () => resolve());
      process.once('SIGINT', () => resolve());
    });
    await controller.stop();
    return 0;
  } catch (e) {
    process.stderr.write(`virtvault-controller: ${codeOf(e)}: ${messageOf(e)}\n`);
    return 1;
  }
}

if (
  process.argv[1] !== undefined &&
  import.meta.url === new URL(`file://${process.argv[1]}`).href
) {
  process.exitCode = await runControllerMain(process.argv.slice(2));
}
