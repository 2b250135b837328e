/**
 * The fleet as a user runs it, for end-to-end tests: certificates from `deploy/make-certs.sh`,
 * one `virtvault agent` per lab host, one or more `virtvault controller` replicas on the lab's
 * Postgres and Redis, an admin token from `virtvault controller token create`, and `virtvault
 * fleet …` commands. Every process is the real binary; logs go to files in the working directory.
 */
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { createServer as netServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import type { Lab } from '../lab/index.js';

import { CLI, type CliRun } from './cli.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const PG = process.env['VV_TEST_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:55432/postgres';
const REDIS = process.env['VV_TEST_REDIS_URL'] ?? 'redis://127.0.0.1:56379';

/** A free TCP port on loopback. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = netServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a !== null ? a.port : 0));
    });
  });
}

/** A run as `GET /api/v1/runs` returns it. */
export interface ApiRun {
  id: string;
  domainUuid: string;
  domainName: string;
  host: string;
  status: string;
  plannedLevel: string | null;
  finalLevel: string | null;
  reasons: string[];
  errorCode: string | null;
  snapshotId: string | null;
  startedAt: number;
  finishedAt: number | null;
  policy: string | null;
  trigger: string | null;
  attempt: number | null;
  jobId: string | null;
}

/** A received webhook call. */
export interface Hook {
  /** Parsed JSON body. */
  body: Record<string, unknown>;
}

interface Proc {
  child: ChildProcess;
  log: string;
}

/** The fleet under test. */
export class Fleet {
  /** Working directory (PKI, configs, logs, repository, scratch). */
  dir = '';
  /** Database URL of this fleet. */
  db = '';
  /** Admin token. */
  token = '';
  /** Webhook calls received. */
  readonly hooks: Hook[] = [];
  readonly #agents = new Map<string, Proc & { port: number }>();
  readonly #controllers = new Map<string, Proc & { url: string }>();
  #dbName = '';
  #prefix = '';
  #hookServer: Server | null = null;
  #hookUrl = '';

  /** @param lab the lab whose hosts run the agents */
  constructor(readonly lab: Lab) {}

  /** Repository path (shared by every host: one machine). */
  get repo(): string {
    return `${this.dir}/repo`;
  }

  /** Base URL of the first running controller. */
  get url(): string {
    const first = [...this.#controllers.values()][0];
    assert.ok(first, 'no controller running');
    return first.url;
  }

  /** PKI, database, webhook receiver; then an agent per host. */
  async setUp(hosts: string[]): Promise<void> {
    this.dir = await mkdtemp('/var/tmp/vv-fleet-');
    await mkdir(`${this.dir}/scratch`);
    const certs = `${ROOT}deploy/make-certs.sh`;
    await run('bash', [certs, `${this.dir}/pki`, '--controller', 'controller']);
    for (const h of hosts) {
      await run('bash', [certs, `${this.dir}/pki`, '--agent', h, '--ip', '127.0.0.1']);
    }
    this.#dbName = `fleet_e2e_${randomBytes(5).toString('hex')}`;
    await run('psql', [PG, '-qc', `create database ${this.#dbName}`]);
    const u = new URL(PG);
    u.pathname = `/${this.#dbName}`;
    this.db = u.toString();
    this.#prefix = `vve2e${randomBytes(3).toString('hex')}`;
    await this.#startHooks();
    for (const h of hosts) {
      await this.startAgent(h);
    }
  }

  async #startHooks(): Promise<void> {
    const server = createServer((req: IncomingMessage, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        try {
          const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<
            string,
            unknown
          >;
          this.hooks.push({ body });
        } catch {
          // not ours
        }
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const a = server.address();
    this.#hookUrl = `http://127.0.0.1:${typeof a === 'object' && a !== null ? a.port : 0}/hook`;
    this.#hookServer = server;
  }

  /** Starts (or restarts) the agent of a lab host. */
  async startAgent(host: string): Promise<void> {
    const old = this.#agents.get(host);
    const port = old?.port ?? (await freePort());
    const pki = `${this.dir}/pki`;
    const config = `${this.dir}/agent-${host}.yaml`;
    await writeFile(
      config,
      [
        `listen: 127.0.0.1:${port}`,
        `hostName: ${host}`,
        `tls: { ca: ${pki}/ca.crt, cert: ${pki}/${host}.crt, key: ${pki}/${host}.key }`,
        'controllerName: controller',
        `libvirtUri: "${await this.lab.uri(host)}"`,
        'repositories:',
        `  - { name: main, path: ${this.repo}, create: true }`,
        `scratchDir: ${this.dir}/scratch`,
        'maxConcurrentBackups: 4',
        '',
      ].join('\n'),
    );
    const log = `${this.dir}/agent-${host}.log`;
    const child = this.#spawn(['agent', '--config', config], log, {});
    this.#agents.set(host, { child, log, port });
    await this.#waitPort(port, log, child);
  }

  /** Stops a host's agent with a signal; resolves when it exited, with its exit code. */
  async stopAgent(host: string, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    const a = this.#agents.get(host);
    assert.ok(a, `no agent on ${host}`);
    return this.#stop(a.child, signal);
  }

  /** The controller's YAML for this fleet. */
  async #controllerConfig(
    id: string,
    port: number,
    hosts: Record<string, number>,
  ): Promise<string> {
    const file = `${this.dir}/controller-${id}.yaml`;
    const pki = `${this.dir}/pki`;
    const hostLines = Object.entries(hosts).map(
      ([h, limit]) =>
        `  - { name: ${h}, address: "127.0.0.1:${this.#agents.get(h)?.port ?? 0}", maxConcurrentBackups: ${limit} }`,
    );
    await writeFile(
      file,
      [
        `http: { listen: "127.0.0.1:${port}" }`,
        `grpc: { ca: ${pki}/ca.crt, cert: ${pki}/controller.crt, key: ${pki}/controller.key }`,
        'hosts:',
        ...hostLines,
        'repositories:',
        '  - { name: main, maxConcurrent: 4 }',
        `replicaId: ${id}`,
        `queuePrefix: ${this.#prefix}`,
        'inventoryIntervalSec: 2',
        'retry: { attempts: 4, backoffSec: 3 }',
        'staleRunAfterSec: 20',
        'lockDurationSec: 10',
        'stalledIntervalSec: 5',
        'agentCallTimeoutSec: 30',
        'shutdownGraceSec: 5',
        'reporting:',
        `  webhooks: ["${this.#hookUrl}"]`,
        '  notifyIntervalSec: 1',
        '  retryBaseSec: 1',
        '',
      ].join('\n'),
    );
    return file;
  }

  /** Starts a controller replica; the first one also makes the admin token. */
  async startController(id: string, hosts: Record<string, number>): Promise<void> {
    const port = await freePort();
    const config = await this.#controllerConfig(id, port, hosts);
    const log = `${this.dir}/controller-${id}.log`;
    const env = { DATABASE_URL: this.db, REDIS_URL: REDIS };
    const child = this.#spawn(['controller', '--config', config], log, env);
    const url = `http://127.0.0.1:${port}`;
    this.#controllers.set(id, { child, log, url });
    await this.#waitPort(port, log, child);
    if (this.token === '') {
      const r = await this.cli(
        ['controller', 'token', 'create', 'e2e-admin', '--role', 'admin'],
        env,
      );
      assert.equal(r.code, 0, `token create: ${r.stderr}`);
      this.token = r.stdout.trim();
    }
  }

  /** Stops a controller replica with a signal; resolves with its exit code. */
  async stopController(id: string, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    const c = this.#controllers.get(id);
    assert.ok(c, `no controller ${id}`);
    this.#controllers.delete(id);
    return this.#stop(c.child, signal);
  }

  /** Ids of the running controller replicas. */
  get controllerIds(): string[] {
    return [...this.#controllers.keys()];
  }

  /** A controller replica's log so far. */
  controllerLog(id: string): Promise<string> {
    return readFile(`${this.dir}/controller-${id}.log`, 'utf8').catch(() => '');
  }

  #spawn(args: string[], log: string, env: Record<string, string>): ChildProcess {
    const out = createWriteStream(log, { flags: 'a' });
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout?.pipe(out);
    child.stderr?.pipe(out);
    return child;
  }

  async #stop(child: ChildProcess, signal: NodeJS.Signals): Promise<number | null> {
    if (child.exitCode !== null || child.signalCode !== null) {
      return child.exitCode;
    }
    const done = new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    try {
      return await done;
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Waits until something listens on `port` while `child` is alive: a child that died (its port
   * taken meanwhile: EADDRINUSE) fails here with its log, not minutes later as an unreachable host.
   */
  async #waitPort(port: number, log: string, child: ChildProcess): Promise<void> {
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      if (child.exitCode !== null || child.signalCode !== null) {
        const text = await readFile(log, 'utf8').catch(() => '');
        throw new Error(
          `${child.spawnargs.join(' ')} exited before listening on ${port}:\n${text}`,
        );
      }
      const ok = await new Promise<boolean>((resolve) => {
        const s = netServer();
        s.once('error', () => resolve(true));
        s.listen(port, '127.0.0.1', () => s.close(() => resolve(false)));
      });
      if (ok) {
        return;
      }
      await sleep(200);
    }
    throw new Error(
      `nothing listens on ${port}; log:\n${await readFile(log, 'utf8').catch(() => '')}`,
    );
  }

  /** Runs the `virtvault` binary; never throws on a non-zero exit. */
  async cli(args: string[], env: Record<string, string> = {}): Promise<CliRun> {
    try {
      const r = await run(process.execPath, [CLI, ...args], {
        env: { ...process.env, ...env },
        maxBuffer: 64 * 1024 * 1024,
      });
      return { code: 0, stdout: r.stdout, stderr: r.stderr };
    } catch (e) {
      const x = e as { code?: number; stdout?: string; stderr?: string };
      return { code: x.code ?? -1, stdout: x.stdout ?? '', stderr: x.stderr ?? '' };
    }
  }

  /** `virtvault fleet …` against the first controller; asserts exit 0 and parses `--json`. */
  async fleet<T = Record<string, unknown>>(...args: string[]): Promise<T> {
    const env = { VIRTVAULT_CONTROLLER: this.url, VIRTVAULT_TOKEN: this.token };
    const r = await this.cli(['fleet', ...args, '--json'], env);
    assert.equal(r.code, 0, `fleet ${args.join(' ')}: ${r.stdout} ${r.stderr}`);
    return JSON.parse(r.stdout) as T;
  }

  /** `GET` of an API path with the admin token. */
  async api<T = Record<string, unknown>>(path: string): Promise<T> {
    const res = await fetch(`${this.url}${path}`, {
      headers: { authorization: `Bearer ${this.token}` },
    });
    assert.equal(res.status, 200, `${path}: HTTP ${res.status}`);
    return (await res.json()) as T;
  }

  /** Every run, oldest first. */
  async runs(): Promise<ApiRun[]> {
    const r = await this.api<{ runs: ApiRun[] }>('/api/v1/runs?limit=1000');
    return [...r.runs].sort((a, b) => a.startedAt - b.startedAt);
  }

  /** Waits until `done(runs)` holds (polling every `pollMs`), or fails with the runs and logs. */
  async waitRuns(
    what: string,
    done: (runs: ApiRun[]) => boolean,
    timeoutMs = 180_000,
    pollMs = 1000,
  ): Promise<ApiRun[]> {
    const deadline = Date.now() + timeoutMs;
    let runs: ApiRun[] = [];
    while (Date.now() < deadline) {
      runs = await this.runs();
      if (done(runs)) {
        return runs;
      }
      await sleep(pollMs);
    }
    const logs = await Promise.all(
      [...this.#controllers.keys()].map(
        async (id) => `--- ${id}\n${(await this.controllerLog(id)).slice(-4000)}`,
      ),
    );
    assert.fail(
      `timed out waiting for ${what}; runs: ${JSON.stringify(runs.map((r) => [r.domainName, r.host, r.status, r.finalLevel, r.errorCode]))}\n${logs.join('\n')}`,
    );
  }

  /** Stops everything and removes the database and the working directory. */
  async tearDown(): Promise<void> {
    for (const id of [...this.#controllers.keys()]) {
      await this.stopController(id, 'SIGTERM');
    }
    for (const host of [...this.#agents.keys()]) {
      await this.stopAgent(host, 'SIGTERM');
    }
    await new Promise<void>((resolve) =>
      this.#hookServer ? this.#hookServer.close(() => resolve()) : resolve(),
    );
    if (this.#dbName !== '') {
      await run('psql', [PG, '-qc', `drop database if exists ${this.#dbName} with (force)`]).catch(
        () => undefined,
      );
    }
    if (process.env['VV_KEEP_FLEET'] === undefined) {
      await rm(this.dir, { recursive: true, force: true });
    }
  }
}

/** Sleeps. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
