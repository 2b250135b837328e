import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { FleetStore } from '../fleet-store.js';
import { PgLineageStore } from '../pg-lineage-store.js';
import { ReportStore } from '../report-store.js';

import { createTestDatabase } from './test-db.js';

let db: { url: string; drop: () => Promise<void> } | undefined;
let fleet: FleetStore;
let lineage: PgLineageStore;
const T0 = Date.parse('2025-03-01T10:00:00Z');
const U1 = '11111111-1111-4111-8111-111111111111';
const U2 = '22222222-2222-4222-8222-222222222222';
const U3 = '33333333-3333-4333-8333-333333333333';

before(async () => {
  db = await createTestDatabase();
  fleet = await FleetStore.connect({ url: db.url });
  lineage = await PgLineageStore.connect({ url: db.url });
});
after(async () => {
  await fleet.close();
  await lineage.close();
  await db?.drop();
});

const dom = (uuid: string, name: string, tags: string[] = []) => ({
  uuid,
  name,
  state: 'running' as const,
  transient: false,
  tags,
});

describe('FleetStore', () => {
  it('keeps hosts with configuration and agent status', async () => {
    await fleet.upsertHost({ name: 'a', address: 'a:7443', maxConcurrent: 1, enabled: true }, T0);
    await fleet.upsertHost({ name: 'b', address: 'b:7443', maxConcurrent: 3, enabled: true }, T0);
    await fleet.setHostStatus({
      name: 'a',
      state: 'up',
      agentVersion: '0.1.0',
      error: null,
      at: T0,
    });
    await fleet.setHostStatus({
      name: 'b',
      state: 'down',
      agentVersion: null,
      error: 'refused',
      at: T0,
    });
    const hosts = await fleet.listHosts();
    assert.deepEqual(
      hosts.map((h) => [h.name, h.address, h.maxConcurrent, h.state, h.agentVersion, h.lastError]),
      [
        ['a', 'a:7443', 1, 'up', '0.1.0', null],
        ['b', 'b:7443', 3, 'down', null, 'refused'],
      ],
    );
    assert.equal((await fleet.getHost('a'))?.lastContactAt, T0);
    assert.equal((await fleet.getHost('b'))?.lastContactAt, null);
  });

  it('keeps the newest host status when an older poll lands late', async () => {
    const up = { name: 'a', state: 'up' as const, agentVersion: '1', error: null };
    await fleet.setHostStatus({ ...up, at: T0 + 5_000 });
    // a poll started earlier timed out and lands now
    const down = { ...up, state: 'down' as const, agentVersion: null, error: 'timeout' };
    await fleet.setHostStatus({ ...down, at: T0 + 1_000 });
    const h = await fleet.getHost('a');
    assert.equal(h?.state, 'up');
    assert.equal(h?.lastContactAt, T0 + 5_000);
    await fleet.setHostStatus({ ...down, at: T0 + 6_000 });
    assert.equal((await fleet.getHost('a'))?.state, 'down');
  });

  it('records inventory and a migration when a domain changes host', async () => {
    const first = await fleet.recordInventory(
      'a',
      [dom(U1, 'web-1', ['prod']), dom(U2, 'web-2'), dom(U3, 'db-1', ['prod'])],
      T0,
    );
    assert.deepEqual(first, []);
    const moves = await fleet.recordInventory('b', [dom(U2, 'web-2')], T0 + 1000);
    assert.deepEqual(moves, [
      { domainUuid: U2, from: 'a', to: 'b', at: T0 + 1000, detectedBy: 'inventory' },
    ]);
    assert.deepEqual(await fleet.listMoves(U2), moves);
    const onA = await fleet.listDomains({ host: 'a' });
    assert.deepEqual(
      onA.map((d) => d.name),
      ['db-1', 'web-1'],
    );
    assert.deepEqual((await fleet.getDomain('web-2'))?.currentHost, 'b');
    assert.deepEqual((await fleet.getDomain(U1))?.tags, ['prod']);
    assert.equal((await fleet.getHost('a'))?.domainCount, 2);
  });

  it('selects domains by name glob, host and tag', async () => {
    const names = async (s: Parameters<FleetStore['selectDomains']>[0]) =>
      (await fleet.selectDomains(s)).map((d) => d.name);
    assert.deepEqual(await names({ nameGlob: 'web-*' }), ['web-1', 'web-2']);
    assert.deepEqual(await names({ nameGlob: 'web-*', host: 'a' }), ['web-1']);
    assert.deepEqual(await names({ tag: 'prod' }), ['db-1', 'web-1']);
    assert.deepEqual(await names({ nameGlob: '?b-1' }), ['db-1']);
    assert.deepEqual(await names({ nameGlob: 'web.1' }), []);
    assert.deepEqual(await names({}), ['db-1', 'web-1', 'web-2']);
  });

  it('stores, replaces and deletes policies', async () => {
    const p = {
      name: 'nightly',
      selector: { nameGlob: 'web-*' },
      cron: '0 2 * * *',
      timeZone: 'Europe/Berlin',
      level: { level: 'auto' as const, maxChainLength: 6 },
      retention: { keepLast: 7, keepDaily: 7, keepWeekly: 4, keepMonthly: 6 },
      repository: 'main',
      enabled: true,
      rpoHours: 12,
      notify: { webhooks: ['http://hooks.example/vv'], events: ['chain-break'] },
    };
    await fleet.upsertPolicy(p, T0);
    await fleet.upsertPolicy({ ...p, cron: '0 3 * * *' }, T0 + 5);
    const [stored] = await fleet.listPolicies();
    assert.deepEqual(stored, { ...p, cron: '0 3 * * *', createdAt: T0, updatedAt: T0 + 5 });
    assert.equal(await fleet.deletePolicy('nightly'), true);
    assert.equal(await fleet.deletePolicy('nightly'), false);
    assert.equal(await fleet.getPolicy('nightly'), null);
  });

  it('tags runs and lists them with filters', async () => {
    const start = (id: string, uuid: string, name: string, host: string, at: number) =>
      lineage.beginRun(
        { id, repository: 'main', domain: { uuid, name }, host, startedAt: at },
        60_000,
      );
    await start('r1', U1, 'web-1', 'a', T0 + 10);
    await fleet.tagRun('r1', { policy: 'nightly', trigger: 'schedule', jobId: 'j1', attempt: 1 });
    await lineage.failRun('r1', {
      errorCode: 'AGENT_UNAVAILABLE',
      message: 'down',
      plannedLevel: null,
      reasons: [],
      finishedAt: T0 + 20,
    });
    await start('r2', U1, 'web-1', 'a', T0 + 30);
    await fleet.tagRun('r2', { policy: 'nightly', trigger: 'retry', jobId: 'j1', attempt: 2 });
    await start('r3', U3, 'db-1', 'a', T0 + 40);
    const ids = async (f: Parameters<FleetStore['listRuns']>[0]) =>
      (await fleet.listRuns(f)).map((r) => r.id);
    assert.deepEqual(await ids({}), ['r3', 'r2', 'r1']);
    assert.deepEqual(await ids({ domain: 'web-1' }), ['r2', 'r1']);
    assert.deepEqual(await ids({ domain: U3 }), ['r3']);
    assert.deepEqual(await ids({ status: 'failed' }), ['r1']);
    assert.deepEqual(await ids({ policy: 'nightly', limit: 1 }), ['r2']);
    assert.deepEqual(await ids({ since: T0 + 30, until: T0 + 40 }), ['r2']);
    assert.deepEqual(await ids({ host: 'b' }), []);
    assert.deepEqual(await ids({ reason: 'AGENT_UNAVAILABLE' }), ['r1'], 'by error code');
    assert.deepEqual(await ids({ reason: 'BITMAP_MISSING' }), []);
    const r2 = await fleet.getRun('r2');
    assert.equal(r2?.trigger, 'retry');
    assert.equal(r2?.attempt, 2);
    assert.equal(r2?.jobId, 'j1');
    assert.equal(r2?.domainName, 'web-1');
    assert.equal((await fleet.getRun('r1'))?.errorCode, 'AGENT_UNAVAILABLE');
    const d = await fleet.getDomain('web-1');
    assert.equal(d?.lastRun?.id, 'r2');
    assert.equal(d?.lastRun?.status, 'running');
    assert.equal(await fleet.getRun('nope'), null);
  });

  it('removes a host, leaving its domains without a current host', async () => {
    assert.equal(await fleet.removeHost('a'), true);
    assert.equal(await fleet.getHost('a'), null);
    assert.equal((await fleet.getDomain('web-1'))?.currentHost, null);
    assert.equal(await fleet.removeHost('a'), false);
  });

  it('ignores an inventory older than the last one recorded (no move back, no false migration)', async () => {
    for (const name of ['c', 'd']) {
      await fleet.upsertHost(
        { name, address: `${name}:7443`, maxConcurrent: 1, enabled: true },
        T0,
      );
    }
    const U8 = '88888888-8888-4888-8888-888888888888';
    await fleet.recordInventory('d', [dom(U8, 'mig-1')], T0 + 10_000);
    const moved = await fleet.recordInventory('c', [dom(U8, 'mig-1')], T0 + 20_000);
    assert.equal(moved.length, 1);
    // d's poll from before the move lands late
    assert.deepEqual(await fleet.recordInventory('d', [dom(U8, 'mig-1')], T0 + 15_000), []);
    assert.equal((await fleet.getDomain(U8))?.currentHost, 'c');
    assert.deepEqual(
      (await fleet.listMoves(U8)).map((m) => [m.from, m.to]),
      [['d', 'c']],
    );
  });

  it("a definition left shut off on a migration's source never takes the domain from where it runs", async () => {
    const U9 = '77777777-7777-4777-8777-777777777777';
    await fleet.recordInventory('c', [dom(U9, 'live-1')], T0 + 30_000);
    // migrated live to d: c keeps a shut-off definition and goes on listing it
    const moved = await fleet.recordInventory('d', [dom(U9, 'live-1')], T0 + 31_000);
    assert.equal(moved.length, 1);
    const stale = { ...dom(U9, 'live-1'), state: 'shut-off' as const };
    assert.deepEqual(await fleet.recordInventory('c', [stale], T0 + 32_000), []);
    assert.equal((await fleet.getDomain(U9))?.currentHost, 'd');
    // stopped on d too: both hosts list it shut off, and it stays on d, poll after poll
    for (let i = 0; i < 3; i++) {
      await fleet.recordInventory('d', [{ ...stale }], T0 + 33_000 + 2 * i);
      assert.deepEqual(await fleet.recordInventory('c', [stale], T0 + 34_000 + 2 * i), []);
      assert.equal((await fleet.getDomain(U9))?.currentHost, 'd');
    }
    // undefined on d (d's listing lacks it: gone there): c's definition takes it back
    await fleet.recordInventory('d', [], T0 + 40_000);
    assert.equal((await fleet.recordInventory('c', [stale], T0 + 40_001)).length, 1);
    assert.deepEqual(
      (await fleet.listMoves(U9)).map((m) => [m.from, m.to]),
      [
        ['c', 'd'],
        ['d', 'c'],
      ],
    );
  });

  it('marks a domain its host stops listing gone, out of the report, and clears it when seen', async () => {
    const G = '66666666-6666-4666-8666-666666666666';
    const keep = '55555555-5555-4555-8555-555555555555';
    await fleet.recordInventory('c', [dom(G, 'gone-1'), dom(keep, 'kept-1')], T0 + 40_000);
    // undefined from libvirt: the next full listing of c lacks it
    await fleet.recordInventory('c', [dom(keep, 'kept-1')], T0 + 41_000);
    assert.equal((await fleet.getDomain(G))?.goneAt, T0 + 41_000);
    assert.equal((await fleet.getDomain(keep))?.goneAt, null);
    const report = await ReportStore.connect({ url: db?.url ?? '' });
    try {
      const uuids = (await report.vmStatus()).map((v) => v.uuid);
      assert.ok(!uuids.includes(G), 'no per-VM figures (and no RPO alert) for it');
      assert.ok(uuids.includes(keep));
      // defined again (or listed by another host): back
      await fleet.recordInventory('c', [dom(G, 'gone-1'), dom(keep, 'kept-1')], T0 + 42_000);
      assert.equal((await fleet.getDomain(G))?.goneAt, null);
      assert.ok((await report.vmStatus()).some((v) => v.uuid === G));
    } finally {
      await report.close();
    }
  });

  it('records nothing from the inventory of a host removed meanwhile', async () => {
    await fleet.upsertHost(
      { name: 'gone', address: 'g:7443', maxConcurrent: 1, enabled: true },
      T0,
    );
    assert.equal(await fleet.removeHost('gone'), true);
    const U9 = '99999999-9999-4999-8999-999999999999';
    // an event watcher of another replica still running after the removal
    assert.deepEqual(await fleet.recordInventory('gone', [dom(U9, 'late-1')], T0 + 5000), []);
    assert.equal(await fleet.getHost('gone'), null);
    assert.equal(await fleet.getDomain(U9), null);
  });
});
