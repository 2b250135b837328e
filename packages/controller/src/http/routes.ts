/**
 * The `/api/v1` routes: each names the weakest role allowed and maps a request to the fleet
 * service or the token store. Handlers are plain async functions over parsed input; the server
 * owns the socket.
 */
import { roleAllows, type TokenInfo, type TokenRole } from '@virtvault/lineage';

import { maskPolicyWebhooks } from '../report/webhook-origin.js';

import { problem } from './problem.js';
import type { Route } from './router.js';

/** What the API needs of the controller (its `FleetService`). */
export interface FleetBackend {
  /** Adds (or updates) a host. */
  addHost(h: { name: string; address: string; maxConcurrentBackups?: number }): Promise<unknown>;
  /** Removes a host. */
  removeHost(name: string): Promise<unknown>;
  /** Policies. */
  listPolicies(): Promise<unknown>;
  /** Creates or replaces a policy. */
  upsertPolicy(p: unknown): Promise<unknown>;
  /** Deletes a policy. */
  deletePolicy(name: string): Promise<unknown>;
  /** Enqueues backups now, for a policy or one domain. */
  runNow(r: { policy?: string; domain?: string }): Promise<unknown>;
  /** Runs, filtered. */
  listRuns(f: RunQuery): Promise<unknown>;
  /** One run (null when unknown). */
  getRun(id: string): Promise<unknown>;
}

/** What the API needs of the report. */
export interface ReportBackend {
  /** Hosts with agent state, VMs and running jobs. */
  hosts(): Promise<unknown>;
  /** VMs with RPO status. */
  vms(f: { host?: string; unprotected?: boolean; rpo?: string; q?: string }): Promise<unknown>;
  /** The fleet summary since epoch ms. */
  summary(since: number): Promise<unknown>;
  /** A VM's timeline (null when unknown). */
  timeline(vm: string): Promise<unknown>;
}

/** Filters of `GET /api/v1/runs`. */
export interface RunQuery {
  /** Host name. */
  host?: string;
  /** Domain name or UUID. */
  domain?: string;
  /** running | succeeded | failed | abandoned. */
  status?: string;
  /** Policy name. */
  policy?: string;
  /** A reason code the run carries, or its error code. */
  reason?: string;
  /** Epoch ms, inclusive. */
  since?: number;
  /** Epoch ms, exclusive. */
  until?: number;
  /** At most this many, newest first. */
  limit?: number;
}

/** What token management needs (the lineage's `TokenStore`). */
export interface TokenAdmin {
  /** Creates a token, returned in plain text once. */
  create(i: {
    name: string;
    role: TokenRole;
    now: number;
    expiresAt?: number | null;
  }): Promise<{ token: string; info: TokenInfo }>;
  /** Lists tokens. */
  list(): Promise<TokenInfo[]>;
  /** Revokes by id or name. */
  revoke(idOrName: string, now: number): Promise<boolean>;
}

/** A parsed request. */
export interface ApiRequest {
  /** Path parameters. */
  params: Record<string, string>;
  /** Query string. */
  query: URLSearchParams;
  /** Parsed JSON body (undefined when none). */
  body: unknown;
  /** The caller. */
  principal: TokenInfo;
  /** Epoch ms. */
  now: number;
}

/** A handler's answer. */
export interface ApiResponse {
  /** HTTP status. @default 200 */
  status?: number;
  /** JSON body. */
  body: unknown;
}

/** A route's handler with its role. */
export interface ApiHandler {
  /** Weakest role allowed. */
  role: TokenRole;
  /** The work. */
  run(req: ApiRequest): Promise<ApiResponse>;
}

function obj(body: unknown): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw problem('BAD_REQUEST', 'the body must be a JSON object');
  }
  return body as Record<string, unknown>;
}

function str(o: Record<string, unknown>, key: string, required: true): string;
function str(o: Record<string, unknown>, key: string, required: false): string | undefined;
function str(o: Record<string, unknown>, key: string, required: boolean): string | undefined {
  const v = o[key];
  if (v === undefined && !required) {
    return undefined;
  }
  if (typeof v !== 'string' || v === '') {
    throw problem('BAD_REQUEST', `field ${key} must be a non-empty string`);
  }
  return v;
}

function int(v: string | null | undefined, name: string): number | undefined {
  if (v == null || v === '') {
    return undefined;
  }
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) {
    throw problem('BAD_REQUEST', `${name} must be a non-negative integer`);
  }
  return n;
}

/**
 * An ISO 8601 date, or date and time with a zone (`Z` or `±hh:mm`): a time without a zone was read
 * in the controller's own zone, and V8's lenient parser took `7` (a unit forgotten) for July 2001.
 */
const ISO_TIME = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2}))?$/;

/** The latest time accepted (year 9999): Postgres and a Date both hold it. */
const MAX_TIME_MS = Date.UTC(9999, 11, 31, 23, 59, 59);

/** `7d`, `12h`, `30m` or an ISO 8601 time with a zone → epoch ms, from 1970 to year 9999. */
export function parseSince(v: string | null, now: number): number | undefined {
  if (v === null || v === '') {
    return undefined;
  }
  const rel = /^(\d+)([smhd])$/.exec(v);
  let t = Number.NaN;
  if (rel?.[1] !== undefined && rel[2] !== undefined) {
    const unit = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[rel[2] as 's'];
    t = now - Number(rel[1]) * unit;
  } else if (ISO_TIME.test(v)) {
    t = Date.parse(v);
  } else {
    throw problem('BAD_REQUEST', `bad time ${v}: use 7d, 12h, 30m or an ISO 8601 time with a zone`);
  }
  // before 1970 or past year 9999 (`99999999999d`, year 0): a bad request, not a 500 from the
  // database or from toISOString
  if (!(t >= 0 && t <= MAX_TIME_MS)) {
    throw problem('BAD_REQUEST', `bad time ${v}: out of range (1970 to 9999)`);
  }
  return t;
}

function runQuery(q: URLSearchParams, now: number): RunQuery {
  const out: RunQuery = {};
  for (const k of ['host', 'domain', 'status', 'policy', 'reason'] as const) {
    const v = q.get(k) ?? (k === 'domain' ? q.get('vm') : null);
    if (v !== null && v !== '') {
      out[k] = v;
    }
  }
  const since = parseSince(q.get('since'), now);
  const until = parseSince(q.get('until'), now);
  const limit = int(q.get('limit'), 'limit');
  return {
    ...out,
    ...(since !== undefined ? { since } : {}),
    ...(until !== undefined ? { until } : {}),
    ...(limit !== undefined ? { limit } : {}),
  };
}

const ok = (body: unknown, status = 200): ApiResponse => ({ status, body });

function reportRoutes(rep: ReportBackend): Route<ApiHandler>[] {
  const r = (pattern: string, run: ApiHandler['run']) => ({
    method: 'GET',
    pattern,
    handler: { role: 'viewer' as const, run },
  });
  return [
    r('/api/v1/hosts', async () => ok({ hosts: await rep.hosts() })),
    r('/api/v1/vms', async ({ query }) => {
      const f: { host?: string; unprotected?: boolean; rpo?: string; q?: string } = {};
      for (const k of ['host', 'rpo', 'q'] as const) {
        const v = query.get(k);
        if (v !== null && v !== '') {
          f[k] = v;
        }
      }
      const u = query.get('unprotected');
      if (u === 'true' || u === '1') {
        f.unprotected = true;
      }
      return ok({ vms: await rep.vms(f) });
    }),
    r('/api/v1/vms/:vm/timeline', async ({ params }) => {
      const t = await rep.timeline(params['vm'] ?? '');
      if (t === null) {
        throw problem('DOMAIN_NOT_FOUND', `no VM ${params['vm'] ?? ''} in the lineage`);
      }
      return ok(t);
    }),
    r('/api/v1/summary', async ({ query, now }) => {
      const since = parseSince(query.get('since') ?? '7d', now) ?? now - 7 * 86_400_000;
      return ok({ summary: await rep.summary(since) });
    }),
  ];
}

/** A host to add, from a request body. */
/** A host from a request body; a missing or mistyped field is `HOST_INVALID`, as the docs say. */
function hostBody(body: unknown): Parameters<FleetBackend['addHost']>[0] {
  const b = obj(body);
  const max = b['maxConcurrentBackups'];
  if (max !== undefined && (typeof max !== 'number' || !Number.isInteger(max) || max < 1)) {
    throw problem('HOST_INVALID', 'maxConcurrentBackups must be an integer >= 1');
  }
  const field = (key: string): string => {
    const v = b[key];
    if (typeof v !== 'string' || v === '') {
      throw problem('HOST_INVALID', `field ${key} must be a non-empty string`);
    }
    return v;
  };
  const host = { name: field('name'), address: field('address') };
  return max === undefined ? host : { ...host, maxConcurrentBackups: max };
}

/** What to back up now, from a request body: a policy's VMs, one VM, or both. */
function runRequest(body: unknown): Parameters<FleetBackend['runNow']>[0] {
  const b = obj(body);
  const policy = str(b, 'policy', false);
  const domain = str(b, 'domain', false);
  if (policy === undefined && domain === undefined) {
    throw problem('BAD_REQUEST', 'give a policy, a domain, or both');
  }
  return {
    ...(policy !== undefined ? { policy } : {}),
    ...(domain !== undefined ? { domain } : {}),
  };
}

function fleetRoutes(f: FleetBackend): Route<ApiHandler>[] {
  const r = (method: string, pattern: string, role: TokenRole, run: ApiHandler['run']) => ({
    method,
    pattern,
    handler: { role, run },
  });
  return [
    r('POST', '/api/v1/hosts', 'admin', async ({ body }) =>
      ok({ host: await f.addHost(hostBody(body)) }, 201),
    ),
    r('DELETE', '/api/v1/hosts/:name', 'admin', async ({ params }) =>
      ok({ removed: await f.removeHost(params['name'] ?? '') }),
    ),
    r('GET', '/api/v1/policies', 'viewer', async ({ principal }) => {
      const policies = await f.listPolicies();
      // a webhook URL is a credential: below operator (who may set them), only its origin
      const full = roleAllows(principal.role, 'operator');
      return ok({ policies: full ? policies : maskPolicyWebhooks(policies) });
    }),
    r('PUT', '/api/v1/policies/:name', 'operator', async ({ params, body }) => {
      const p = { ...obj(body), name: params['name'] };
      return ok({ policy: await f.upsertPolicy(p) });
    }),
    r('DELETE', '/api/v1/policies/:name', 'operator', async ({ params }) =>
      ok({ removed: await f.deletePolicy(params['name'] ?? '') }),
    ),
    r('POST', '/api/v1/runs', 'operator', async ({ body }) =>
      ok({ enqueued: await f.runNow(runRequest(body)) }, 202),
    ),
    r('GET', '/api/v1/runs', 'viewer', async ({ query, now }) =>
      ok({ runs: await f.listRuns(runQuery(query, now)) }),
    ),
    r('GET', '/api/v1/runs/:id', 'viewer', async ({ params }) => {
      const run = await f.getRun(params['id'] ?? '');
      if (run === null || run === undefined) {
        throw problem('RUN_NOT_FOUND', `no run ${params['id'] ?? ''}`);
      }
      return ok({ run });
    }),
  ];
}

function tokenRoutes(t: TokenAdmin): Route<ApiHandler>[] {
  const r = (method: string, pattern: string, run: ApiHandler['run']) => ({
    method,
    pattern,
    handler: { role: 'admin' as const, run },
  });
  return [
    r('GET', '/api/v1/tokens', async () => ok({ tokens: await t.list() })),
    r('POST', '/api/v1/tokens', async ({ body, now }) => {
      const b = obj(body);
      const role = str(b, 'role', true);
      if (role !== 'viewer' && role !== 'operator' && role !== 'admin') {
        throw problem('BAD_REQUEST', 'role must be viewer, operator or admin');
      }
      const days = b['expiresInDays'];
      // at most 100 years: a larger one overflowed the date (a 500)
      if (days !== undefined && (typeof days !== 'number' || !(days > 0 && days <= 36_500))) {
        throw problem('BAD_REQUEST', 'expiresInDays must be a number from 0 (exclusive) to 36500');
      }
      const expiresAt = typeof days === 'number' ? now + days * 86_400_000 : null;
      const created = await t.create({ name: str(b, 'name', true), role, now, expiresAt });
      return ok(created, 201);
    }),
    r('DELETE', '/api/v1/tokens/:id', async ({ params, now }) => {
      const id = params['id'] ?? '';
      if (!(await t.revoke(id, now))) {
        throw problem('TOKEN_NOT_FOUND', `no live token ${id}`);
      }
      return ok({ revoked: id });
    }),
  ];
}

/** Every route of `/api/v1`. */
export function apiRoutes(
  fleet: FleetBackend,
  report: ReportBackend,
  tokens: TokenAdmin,
): Route<ApiHandler>[] {
  return [
    {
      method: 'GET',
      pattern: '/api/v1/whoami',
      handler: {
        role: 'viewer',
        run: ({ principal }) =>
          Promise.resolve(ok({ name: principal.name, role: principal.role, id: principal.id })),
      },
    },
    ...reportRoutes(report),
    ...fleetRoutes(fleet),
    ...tokenRoutes(tokens),
  ];
}
