import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';

import { ReportStore, TokenStore } from '@virtvault/lineage';
import postgres from 'postgres';

import { HttpApi } from '../http/server.js';
import type { FleetBackend, RunQuery } from '../http/routes.js';
import { Reporter } from '../report/reporter.js';

const SERVER =
  process.env['VV_TEST_DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:55432/postgres';

/** An incoming-webhook URL: its path is the secret. */
const HOOK = 'https://hooks.example.net/services/T000/B000/s3cr3t';

/** A fake fleet service that records calls: this file tests the HTTP layer, not the fleet. */
class RecordingFleetFake implements FleetBackend {
  calls: { method: string; arg: unknown }[] = [];
  /** Thrown by the next call, as a failing database would. */
  failNext: Error | null = null;
  #rec(method: string, arg: unknown, result: unknown): Promise<unknown> {
    this.calls.push({ method, arg });
    const fail = this.failNext;
    this.failNext = null;
    return fail === null ? Promise.resolve(result) : Promise.reject(fail);
  }
  addHost(h: { name: string; address: string }) {
    return this.#rec('addHost', h, h);
  }
  removeHost(name: string) {
    return this.#rec('removeHost', name, true);
  }
  listPolicies() {
    const notify = { webhooks: [HOOK], events: [] };
    return this.#rec('listPolicies', null, [{ name: 'nightly', notify }]);
  }
  upsertPolicy(p: unknown) {
    return this.#rec('upsertPolicy', p, p);
  }
  deletePolicy(name: string) {
    return this.#rec('deletePolicy', name, true);
  }
  runNow(r: { policy?: string; domain?: string }) {
    return this.#rec('runNow', r, ['job-1']);
  }
  listRuns(f: RunQuery) {
    return this.#rec('listRuns', f, []);
  }
  getRun(id: string) {
    return this.#rec('getRun', id, id === 'r1' ? { id: 'r1' } : null);
  }
}

describe('HTTP API: tokens, roles, errors', () => {
  const dbName = `http_test_${randomBytes(5).toString('hex')}`;
  const admin = postgres(SERVER, { max: 1, onnotice: () => undefined });
  let tokens: TokenStore;
  let reports: ReportStore;
  let api: HttpApi;
  let base: string;
  const fleet = new RecordingFleetFake();
  const t: Record<string, string> = {};
  const now = Date.UTC(2026, 10, 25, 12);
  const errors: string[] = [];

  before(async () => {
    await admin.unsafe(`create database ${dbName}`);
    const url = new URL(SERVER);
    url.pathname = `/${dbName}`;
    tokens = await TokenStore.connect({ url: url.toString() });
    for (const role of ['viewer', 'operator', 'admin'] as const) {
      t[role] = (await tokens.create({ name: role, role, now })).token;
    }
    reports = await ReportStore.connect({ url: url.toString() });
    const report = new Reporter({
      store: reports,
      queueDepths: () => Promise.resolve([]),
      defaultRpoMs: 26 * 3_600_000,
      now: () => now,
    });
    const logError = (line: string) => errors.push(line);
    api = new HttpApi({ listen: '127.0.0.1:0', fleet, report, tokens, now: () => now, logError });
    base = `http://${await api.start()}`;
  });
  after(async () => {
    await api.stop();
    await tokens.close();
    await reports.close();
    await admin.unsafe(`drop database if exists ${dbName} with (force)`);
    await admin.end();
  });

  const call = async (method: string, path: string, token?: string, body?: unknown) => {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (token !== undefined) {
      headers['authorization'] = `Bearer ${token}`;
    }
    const res = await fetch(base + path, {
      method,
      headers,
      ...(body !== undefined
        ? { body: typeof body === 'string' ? body : JSON.stringify(body) }
        : {}),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown>, res };
  };

  it('answers /healthz without a token and nothing else', async () => {
    assert.deepEqual((await call('GET', '/healthz')).body, { status: 'ok' });
    const r = await call('GET', '/api/v1/hosts');
    assert.equal(r.status, 401);
    assert.deepEqual((r.body['error'] as { code: string }).code, 'UNAUTHENTICATED');
    assert.match(r.res.headers.get('www-authenticate') ?? '', /Bearer/);
    assert.equal((await call('GET', '/api/v1/hosts', 'vvt_bogus')).status, 401);
  });

  it('lets a viewer read and refuses it writes', async () => {
    const r = await call('GET', '/api/v1/hosts', t['viewer']);
    assert.equal(r.status, 200);
    assert.deepEqual(r.body['hosts'], [], 'a fresh lineage has no hosts');
    const s = await call('GET', '/api/v1/summary?since=1d', t['viewer']);
    const summary = s.body['summary'] as { since: string; protection: Record<string, number> };
    assert.equal(summary.since, new Date(now - 86_400_000).toISOString());
    assert.deepEqual(summary.protection, { ok: 0, 'at-risk': 0, violated: 0, never: 0 });
    const tl = await call('GET', '/api/v1/vms/nope/timeline', t['viewer']);
    assert.equal((tl.body['error'] as { code: string }).code, 'DOMAIN_NOT_FOUND');
    const w = await call('POST', '/api/v1/runs', t['viewer'], { policy: 'nightly' });
    assert.equal(w.status, 403);
    assert.equal((w.body['error'] as { code: string }).code, 'FORBIDDEN');
    assert.equal(
      fleet.calls.some((c) => c.method === 'runNow'),
      false,
    );
  });

  it('lets an operator run backups but not manage hosts or tokens', async () => {
    const r = await call('POST', '/api/v1/runs', t['operator'], { domain: 'web1' });
    assert.equal(r.status, 202);
    assert.deepEqual(r.body['enqueued'], ['job-1']);
    assert.deepEqual(fleet.calls.at(-1), { method: 'runNow', arg: { domain: 'web1' } });
    assert.equal(
      (await call('POST', '/api/v1/hosts', t['operator'], { name: 'x', address: 'x:1' })).status,
      403,
    );
    assert.equal((await call('GET', '/api/v1/tokens', t['operator'])).status, 403);
    const none = await call('POST', '/api/v1/runs', t['operator'], {});
    assert.equal(none.status, 400);
  });

  it("lets the dashboard's cookie read, never change anything; a malformed cookie is no token", async () => {
    const withCookie = (method: string, path: string, cookie: string) =>
      fetch(base + path, {
        method,
        headers: { cookie, 'content-type': 'application/json' },
        ...(method === 'POST' ? { body: JSON.stringify({ domain: 'web1' }) } : {}),
      });
    const admin = `vv_token=${encodeURIComponent(t['admin'] ?? '')}`;
    assert.equal((await withCookie('GET', '/api/v1/hosts', admin)).status, 200);
    const before = fleet.calls.length;
    const forged = await withCookie('POST', '/api/v1/runs', admin);
    assert.equal(forged.status, 401);
    assert.match(JSON.stringify(await forged.json()), /Authorization header/);
    assert.equal(fleet.calls.length, before, 'nothing was called');
    assert.equal((await withCookie('GET', '/api/v1/hosts', 'vv_token=%E0%A4%A')).status, 401);
  });

  it('passes run filters through, parsing relative times', async () => {
    await call('GET', '/api/v1/runs?host=a&vm=web1&status=failed&since=7d&limit=5', t['viewer']);
    assert.deepEqual(fleet.calls.at(-1), {
      method: 'listRuns',
      arg: { host: 'a', domain: 'web1', status: 'failed', since: now - 7 * 86_400_000, limit: 5 },
    });
    assert.equal((await call('GET', '/api/v1/runs?since=yesterday', t['viewer'])).status, 400);
    assert.equal((await call('GET', '/api/v1/runs/nope', t['viewer'])).status, 404);
    assert.equal((await call('GET', '/api/v1/runs/r1', t['viewer'])).status, 200);
  });

  it('lets an admin create, list and revoke tokens; a revoked token stops working', async () => {
    const c = await call('POST', '/api/v1/tokens', t['admin'], { name: 'ci', role: 'viewer' });
    assert.equal(c.status, 201);
    const token = c.body['token'] as string;
    assert.equal((await call('GET', '/api/v1/whoami', token)).body['name'], 'ci');
    const list = await call('GET', '/api/v1/tokens', t['admin']);
    assert.ok(!JSON.stringify(list.body).includes(token), 'listing never shows a secret');
    assert.equal((await call('DELETE', '/api/v1/tokens/ci', t['admin'])).status, 200);
    assert.equal((await call('GET', '/api/v1/whoami', token)).status, 401);
    const dup = await call('POST', '/api/v1/tokens', t['admin'], {
      name: 'viewer',
      role: 'viewer',
    });
    assert.equal(dup.status, 409);
  });

  it('answers bad requests with stable codes', async () => {
    assert.equal((await call('GET', '/api/v1/nothing', t['viewer'])).status, 404);
    const m = await call('PATCH', '/api/v1/hosts', t['admin']);
    assert.equal(m.status, 405);
    assert.match(m.res.headers.get('allow') ?? '', /GET/);
    const bad = await call('POST', '/api/v1/hosts', t['admin'], '{not json');
    assert.equal((bad.body['error'] as { code: string }).code, 'BAD_REQUEST');
    // a field missing or of another type: the documented HOST_INVALID, not BAD_REQUEST
    const noAddress = await call('POST', '/api/v1/hosts', t['admin'], { name: 'kvm-9' });
    assert.equal(noAddress.status, 400);
    assert.equal((noAddress.body['error'] as { code: string }).code, 'HOST_INVALID');
    const big = await call('PUT', '/api/v1/policies/p', t['admin'], { x: 'y'.repeat(1_100_000) });
    assert.equal(big.status, 413);
  });

  it('refuses NUL characters and endless token lifetimes as bad requests; a 500 tells no detail', async () => {
    for (const path of ['/api/v1/runs?host=%00', '/api/v1/runs/%00', '/ui/runs?host=a%00']) {
      assert.equal((await call('GET', path, t['viewer'])).status, 400, path);
    }
    const tag = '{"name":"p","selector":{"tag":"a\\u0000b"}}';
    const before = fleet.calls.length;
    assert.equal((await call('PUT', '/api/v1/policies/p', t['admin'], tag)).status, 400);
    assert.equal(fleet.calls.length, before, 'the service never saw it');
    const token = { name: 'long', role: 'viewer', expiresInDays: 1e9 };
    assert.equal((await call('POST', '/api/v1/tokens', t['admin'], token)).status, 400);
    // a failure below the API, a driver's error naming the database's address
    const refused = new Error('connect ECONNREFUSED 10.1.2.3:5432');
    fleet.failNext = Object.assign(refused, { code: 'ECONNREFUSED' });
    const down = await call('GET', '/api/v1/runs', t['viewer']);
    assert.equal(down.status, 500);
    assert.equal((down.body['error'] as { code: string }).code, 'INTERNAL');
    assert.doesNotMatch(JSON.stringify(down.body), /10\.1\.2\.3/);
    assert.ok(
      errors.some((l) => l.includes('10.1.2.3')),
      'the log has it',
    );
  });

  it('shows a viewer only the origin of a webhook URL (its path is a secret); an operator all', async () => {
    const listed = async (role: string) =>
      JSON.stringify((await call('GET', '/api/v1/policies', t[role])).body);
    assert.doesNotMatch(await listed('viewer'), /s3cr3t/);
    assert.match(await listed('viewer'), /https:\/\/hooks\.example\.net\/…/);
    assert.match(await listed('operator'), /s3cr3t/);
  });
});
