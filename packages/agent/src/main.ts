#!/usr/bin/env node
/**
 * `virtvault-agent --config FILE [--log-json]` (also `virtvault agent …`): the per-host daemon.
 * SIGTERM or SIGINT stops it cleanly: no new calls, running backups aborted and cleaned up (job
 * ended, checkpoint and partial snapshot removed), libvirt closed, exit 0 within about 40 s.
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { fileURLToPath } from 'node:url';

import { errorCodeOf } from '@virtvault/proto';

import { loadConfig } from './config.js';
import { createLogger } from './log.js';
import { AgentServer, type LogFn } from './server.js';
import { AgentService } from './service.js';

/** Time running backups get to clean up on shutdown before the server cuts their calls. */
const GRACE_MS = 30_000;

const USAGE = `usage: virtvault agent --config FILE [--log-json]

Serves the agent API (gRPC over mutual TLS) for the controller: one agent per hypervisor host,
as root beside libvirtd. It holds no database or Redis credentials.

  --config FILE   agent configuration (YAML): host name, listen address, certificates,
                  repositories, scratchDir, maxConcurrentBackups; see deploy/examples/agent.yaml
  --log-json      one JSON object per log line (default: plain lines), on stderr
  -h, --help      this help

SIGTERM or SIGINT stops it cleanly: no new calls, running backups aborted and cleaned up, exit 0;
a second signal exits at once. Exit codes: 0 clean stop, 1 failure, 2 usage error.
`;

function readVersion(): string {
  const url = new URL('../package.json', import.meta.url);
  return (JSON.parse(readFileSync(url, 'utf8')) as { version: string }).version;
}

interface Args {
  config: string;
  json: boolean;
}

/** The arguments, `{ help: true }`, or what is wrong with them. */
function parseArgs(argv: readonly string[]): Args | { help: true } | string {
  let config: string | undefined;
  let json = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--config') {
      config = argv[++i];
    } else if (a?.startsWith('--config=')) {
      config = a.slice('--config='.length);
    } else if (a === '--log-json') {
      json = true;
    } else if (a === '--help' || a === '-h') {
      return { help: true };
    } else {
      return `unknown argument: ${a ?? ''}`;
    }
  }
  return config ? { config, json } : '--config FILE is required';
}

/** Resolves with the first SIGTERM/SIGINT; a second one exits at once. */
function firstSignal(log: LogFn): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    let seen = false;
    const on = (sig: NodeJS.Signals): void => {
      if (seen) {
        log('killed', { signal: sig });
        process.exit(1);
      }
      seen = true;
      resolve(sig);
    };
    process.on('SIGTERM', on);
    process.on('SIGINT', on);
  });
}

async function serve(args: Args, log: LogFn): Promise<number> {
  const config = await loadConfig(args.config, hostname());
  const service = new AgentService({ config, version: readVersion(), now: () => Date.now(), log });
  const signal = firstSignal(log);
  await service.connect();
  service.watchEvents((e) => log('event', { ...e }));
  const server = new AgentServer(service, config, log);
  try {
    await server.start();
  } catch (e) {
    await service.close(0);
    await server.stop(0);
    throw e;
  }
  const sig = await signal;
  log('stopping', { signal: sig, runningBackups: service.runningBackups });
  // stop accepting first, then abort the backups: their streams end with a Failure
  const stopped = server.stop(GRACE_MS + 5_000);
  await service.close(GRACE_MS);
  await stopped;
  log('stopped', {});
  return 0;
}

/**
 * Runs the agent with the arguments after the command name; resolves with the exit code
 * (0 after a clean stop, 1 on failure, 2 on a usage error).
 */
export async function runAgentMain(argv: readonly string[]): Promise<number> {
  const parsed = parseArgs(argv);
  if (typeof parsed === 'object' && 'help' in parsed) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (typeof parsed === 'string') {
    process.stderr.write(`virtvault agent: ${parsed}\n${USAGE}`);
    return 2;
  }
  const log = createLogger(process.stderr, parsed.json, () => Date.now());
  try {
    return await serve(parsed, log);
  } catch (e) {
    log('failed', { code: errorCodeOf(e), error: e instanceof Error ? e.message : String(e) });
    return 1;
  }
}

// run directly (`node dist/main.js`, `virtvault-agent`), not when imported by the CLI
if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  runAgentMain(process.argv.slice(2)).then(
    (code) => process.exit(code),
    () => process.exit(1),
  );
}
