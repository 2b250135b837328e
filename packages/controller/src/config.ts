/**
 * The controller's YAML configuration, validated with errors that name the field
 * (`CONFIG_INVALID`). `DATABASE_URL` and `REDIS_URL` are not here: `main.ts` reads them.
 */
import { readFile } from 'node:fs/promises';

import type { FleetPolicy } from '@virtvault/lineage';
import { parse } from 'yaml';

import { ControllerError } from './errors.js';
import { readPolicy } from './policy-input.js';
import { ADDRESS_RE, Fields, MAX_PERIOD_SEC, MAX_RPO_HOURS, NAME_RE } from './validate.js';

/** A host of the fleet. */
export interface HostEntry {
  /** Host name; the agent's certificate must name it. */
  name: string;
  /** `host:port` of its agent. */
  address: string;
  /** Backups at once on this host. @default 2 */
  maxConcurrentBackups: number;
}

/** Timings; every one has a default. */
export interface Timings {
  /** Inventory poll period. @default 60 */
  inventoryIntervalSec: number;
  /** Attempts per backup job and the first backoff (doubling). @default {attempts: 3, backoffSec: 30} */
  retry: { attempts: number; backoffSec: number };
  /**
   * A running run without heartbeat this long is taken over (agents beat every 5 s during the
   * copy; before it, a run renews its lease between steps of up to three agent calls, each up to
   * `agentCallTimeoutSec`). A run taken over stops at its next heartbeat. @default 90
   */
  staleRunAfterSec: number;
  /** BullMQ job lock; a dead replica's job is taken over after about this plus the stalled interval. @default 30 */
  lockDurationSec: number;
  /** BullMQ stalled-job check period. @default 15 */
  stalledIntervalSec: number;
  /** Deadline of unary agent calls. @default 30 */
  agentCallTimeoutSec: number;
  /** An idle host worker is closed after this (workers exist only for hosts with jobs). @default 30 */
  idleWorkerCloseSec: number;
  /** Delay of the repository GC after a policy fired. @default 3600 */
  gcAfterSec: number;
  /** Grace for running jobs at shutdown before their streams are cancelled. @default 30 */
  shutdownGraceSec: number;
}

/** The whole configuration. */
export interface ControllerConfig {
  /** HTTP API. */
  http: { listen: string };
  /** The controller's mTLS client identity towards agents (PEM file paths). */
  grpc: { ca: string; cert: string; key: string };
  /** Hosts, synced into Postgres at start. */
  hosts: HostEntry[];
  /** Repositories with their concurrent-backup limit (unlisted ones: unlimited). */
  repositories: { name: string; maxConcurrent: number | null }[];
  /** Policies, synced into Postgres at start (API-made policies persist beside them). */
  policies: FleetPolicy[];
  /** Name of this replica in logs and BullMQ worker names. */
  replicaId: string | null;
  /** Redis key prefix of every queue. @default 'virtvault' */
  queuePrefix: string;
  /** Timings. */
  timings: Timings;
  /** The report: default RPO and webhooks for every policy. */
  reporting: ReportingConfig;
}

/** Reporting and notifications. */
export interface ReportingConfig {
  /** RPO of VMs whose policy sets none, hours. @default 26 */
  defaultRpoHours: number;
  /** Webhooks that get notifications of every policy. */
  webhooks: string[];
  /** Kinds sent to those webhooks (all when empty). */
  events: ('rpo-violation' | 'run-failed' | 'chain-break')[];
  /** How often the notifier looks for news, seconds. @default 15 */
  notifyIntervalSec: number;
  /** First webhook retry delay, seconds (doubling). @default 15 */
  retryBaseSec: number;
}

function reporting(f: Fields): ReportingConfig {
  f.only(['defaultRpoHours', 'webhooks', 'events', 'notifyIntervalSec', 'retryBaseSec']);
  const kinds = ['rpo-violation', 'run-failed', 'chain-break'] as const;
  return {
    defaultRpoHours: f.at('defaultRpoHours').opt((x) => x.num(0.01, MAX_RPO_HOURS), 26),
    webhooks: f
      .at('webhooks')
      .opt((x) => x.items().map((u) => u.str(/^https?:\/\/\S+$/, 'an http(s) URL')), []),
    events: f.at('events').opt((x) => x.items().map((e) => e.oneOf(kinds)), []),
    notifyIntervalSec: f.at('notifyIntervalSec').opt((x) => x.num(0.1, MAX_PERIOD_SEC), 15),
    retryBaseSec: f.at('retryBaseSec').opt((x) => x.num(0.1, MAX_PERIOD_SEC), 15),
  };
}

const DEFAULT_TIMINGS: Timings = {
  inventoryIntervalSec: 60,
  retry: { attempts: 3, backoffSec: 30 },
  staleRunAfterSec: 90,
  lockDurationSec: 30,
  stalledIntervalSec: 15,
  agentCallTimeoutSec: 30,
  idleWorkerCloseSec: 30,
  gcAfterSec: 3600,
  shutdownGraceSec: 30,
};

const TIMING_KEYS = Object.keys(DEFAULT_TIMINGS).filter((k) => k !== 'retry');
const TOP_KEYS = [
  'http',
  'grpc',
  'hosts',
  'repositories',
  'policies',
  'replicaId',
  'queuePrefix',
  'reporting',
];

function host(f: Fields): HostEntry {
  f.only(['name', 'address', 'maxConcurrentBackups']);
  return {
    name: f.at('name').str(NAME_RE, 'a host name'),
    address: f.at('address').str(ADDRESS_RE, 'host:port'),
    maxConcurrentBackups: f.at('maxConcurrentBackups').opt((x) => x.int(1, 64), 2),
  };
}

function timings(root: Fields): Timings {
  const t: Timings = { ...DEFAULT_TIMINGS, retry: { ...DEFAULT_TIMINGS.retry } };
  for (const k of TIMING_KEYS) {
    const v = root.at(k).opt((x) => x.num(k === 'gcAfterSec' ? 0 : 0.1, MAX_PERIOD_SEC));
    if (v !== undefined) {
      (t as unknown as Record<string, number>)[k] = v;
    }
  }
  const retry = root.at('retry');
  if (!retry.absent) {
    retry.only(['attempts', 'backoffSec']);
    t.retry.attempts = retry.at('attempts').opt((x) => x.int(1, 100), t.retry.attempts);
    t.retry.backoffSec = retry
      .at('backoffSec')
      .opt((x) => x.num(0, MAX_PERIOD_SEC), t.retry.backoffSec);
  }
  return t;
}

function unique(items: { name: string }[], path: string): void {
  const seen = new Set<string>();
  for (const [i, it] of items.entries()) {
    if (seen.has(it.name)) {
      new Fields('CONFIG_INVALID', `${path}[${i}].name`, it.name).fail('is a duplicate');
    }
    seen.add(it.name);
  }
}

/** Validates a parsed document. Throws `ControllerError` `CONFIG_INVALID` naming the field. */
export function validateConfig(doc: unknown): ControllerConfig {
  const root = new Fields('CONFIG_INVALID', '', doc);
  root.only([...TOP_KEYS, ...TIMING_KEYS, 'retry']);
  const http = root.at('http');
  http.only(['listen']);
  const grpc = root.at('grpc');
  grpc.only(['ca', 'cert', 'key']);
  const cfg: ControllerConfig = {
    http: { listen: http.at('listen').str(ADDRESS_RE, 'host:port') },
    grpc: { ca: grpc.at('ca').str(), cert: grpc.at('cert').str(), key: grpc.at('key').str() },
    hosts: root.at('hosts').opt((x) => x.items().map(host), []),
    repositories: root.at('repositories').opt((x) => x.items().map(repository), []),
    policies: root.at('policies').opt((x) => x.items().map(readPolicy), []),
    replicaId: root.at('replicaId').opt((x) => x.str(NAME_RE, 'a name'), null),
    queuePrefix: root
      .at('queuePrefix')
      .opt((x) => x.str(/^[A-Za-z0-9_-]+$/, 'a word'), 'virtvault'),
    timings: timings(root),
    reporting: root.at('reporting').opt(reporting, {
      defaultRpoHours: 26,
      webhooks: [],
      events: [],
      notifyIntervalSec: 15,
      retryBaseSec: 15,
    }),
  };
  unique(cfg.hosts, 'hosts');
  unique(cfg.repositories, 'repositories');
  unique(cfg.policies, 'policies');
  return cfg;
}

function repository(f: Fields): { name: string; maxConcurrent: number | null } {
  f.only(['name', 'maxConcurrent']);
  return {
    name: f.at('name').str(NAME_RE, 'a repository name'),
    maxConcurrent: f.at('maxConcurrent').opt((x) => x.int(1, 10_000), null),
  };
}

/** Parses YAML text and validates it. */
export function parseConfig(text: string): ControllerConfig {
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (e) {
    throw new ControllerError('CONFIG_INVALID', `not valid YAML: ${String(e)}`, { cause: e });
  }
  return validateConfig(doc);
}

/** Reads, parses and validates a configuration file. */
export async function loadConfig(path: string): Promise<ControllerConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new ControllerError('CONFIG_INVALID', `cannot read ${path}: ${String(e)}`, { cause: e });
  }
  return parseConfig(text);
}
