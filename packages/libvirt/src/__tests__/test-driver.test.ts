// The addon and facade against libvirt's in-process test:///default driver (no daemon needed).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import {
  CheckpointListFlags,
  Connection,
  DomainXmlFlags,
  isConnectionLost,
  isInvalidArg,
  isNoCheckpoint,
  isNoDomain,
  isNoSupport,
  isOperationInvalid,
  LibvirtError,
  type LibvirtEvent,
} from '../index.js';

const URI = 'test:///default';

function transientXml(name: string): string {
  return `<domain type='test'><name>${name}</name><memory>8192</memory><os><type>hvm</type></os></domain>`;
}

describe('test:///default driver', () => {
  let conn: Connection;
  const events: LibvirtEvent[] = [];

  before(async () => {
    conn = await Connection.connect(URI);
    conn.subscribe((e) => events.push(e));
  });
  after(async () => {
    await conn.close();
  });

  it('reports version and URI', async () => {
    assert.match(await conn.libVersion(), /^\d+\.\d+\.\d+$/);
    assert.equal(await conn.canonicalUri(), URI);
    assert.equal(await conn.isAlive(), true);
  });

  it('lists domains with state and looks them up by name and uuid', async () => {
    const [test] = await conn.listDomains();
    assert.ok(test);
    assert.equal(test.name, 'test');
    assert.equal(test.initialStatus.state, 'running');
    assert.equal(test.initialStatus.persistent, true);
    const byUuid = await conn.lookupByUuid(test.uuid);
    assert.equal(byUuid.name, 'test');
    assert.equal((await conn.lookupDomain(test.uuid)).name, 'test');
    assert.equal((await conn.lookupDomain('test')).uuid, test.uuid);
  });

  it('rejects unknown domains with VIR_ERR_NO_DOMAIN', async () => {
    await assert.rejects(
      conn.lookupByName('nope'),
      (e) => isNoDomain(e) && e.domain === 'VIR_FROM_TEST',
    );
    await assert.rejects(conn.lookupByUuid('00000000-0000-0000-0000-000000000001'), isNoDomain);
  });

  it('returns domain XML with flags and parses it', async () => {
    const d = await conn.lookupByName('test');
    assert.match(await d.xml(), /<domain type='test' id='1'>/);
    assert.doesNotMatch(await d.xml(DomainXmlFlags.INACTIVE), /id='1'/);
    const desc = await d.describe();
    assert.equal(desc.name, 'test');
    assert.equal(desc.uuid, d.uuid);
  });

  it('defines, starts, shuts down, destroys and undefines a domain; emits lifecycle events', async () => {
    const d = await conn.defineDomain(transientXml('vv-def'));
    assert.deepEqual(await d.status(), {
      state: 'shutoff',
      reason: 0,
      id: -1,
      persistent: true,
      active: false,
    });
    await d.start();
    assert.equal((await d.status()).state, 'running');
    await d.shutdown();
    await d.start();
    await d.destroy();
    await d.undefine();
    await assert.rejects(conn.lookupByName('vv-def'), isNoDomain);
    await waitFor(() =>
      events.some(
        (e) => e.type === 'lifecycle' && e.domain.name === 'vv-def' && e.event === 'undefined',
      ),
    );
    const seen = events.flatMap((e) =>
      e.type === 'lifecycle' && e.domain.name === 'vv-def' ? [e.event] : [],
    );
    assert.deepEqual(seen, ['defined', 'started', 'stopped', 'started', 'stopped', 'undefined']);
  });

  it('creates a transient domain', async () => {
    const d = await conn.createDomain(transientXml('vv-tr'));
    const s = await d.status();
    assert.equal(s.persistent, false);
    assert.equal(s.active, true);
    await d.destroy();
    await assert.rejects(d.status(), isNoDomain);
  });

  it('creates, lists (topological, with parents), reads and deletes checkpoints', async () => {
    const d = await conn.lookupByName('test');
    await d.checkpoints.create('<domaincheckpoint><name>c0</name></domaincheckpoint>');
    const c1 = await d.checkpoints.create('<domaincheckpoint><name>c1</name></domaincheckpoint>');
    assert.deepEqual(c1, { name: 'c1', parent: 'c0' });
    await d.checkpoints.create('<domaincheckpoint><name>c2</name></domaincheckpoint>');
    assert.deepEqual(await d.checkpoints.list(), [
      { name: 'c0' },
      { name: 'c1', parent: 'c0' },
      { name: 'c2', parent: 'c1' },
    ]);
    assert.deepEqual(await d.checkpoints.list(CheckpointListFlags.ROOTS), [{ name: 'c0' }]);
    assert.deepEqual(await d.checkpoints.lookup('c2'), { name: 'c2', parent: 'c1' });
    const xml = await d.checkpoints.xml('c1');
    const desc = await d.checkpoints.describe('c1');
    assert.equal(desc.parent, 'c0');
    assert.equal(desc.domainUuid, d.uuid);
    assert.doesNotMatch(await d.checkpoints.xml('c1', { noDomain: true }), /<domain[ >]/);

    // CHILDREN_ONLY keeps c1 and drops c2; METADATA_ONLY then drops c1; redefine brings it back
    await d.checkpoints.delete('c1', { childrenOnly: true });
    await d.checkpoints.delete('c1', { metadataOnly: true });
    assert.deepEqual(await d.checkpoints.list(), [{ name: 'c0' }]);
    assert.deepEqual(await d.checkpoints.create(xml, { redefine: true }), {
      name: 'c1',
      parent: 'c0',
    });
    await d.checkpoints.delete('c0', { children: true });
    assert.deepEqual(await d.checkpoints.list(), []);
    await assert.rejects(d.checkpoints.lookup('c0'), isNoCheckpoint);
  });

  it('rejects a redefined checkpoint whose parent is missing with VIR_ERR_INVALID_ARG', async () => {
    const d = await conn.lookupByName('test');
    await d.checkpoints.create('<domaincheckpoint><name>p0</name></domaincheckpoint>');
    await d.checkpoints.create('<domaincheckpoint><name>p1</name></domaincheckpoint>');
    const xml = await d.checkpoints.xml('p1');
    await d.checkpoints.delete('p0', { children: true, metadataOnly: true });
    await assert.rejects(d.checkpoints.create(xml, { redefine: true }), isInvalidArg);
  });

  it('maps unsupported calls to VIR_ERR_NO_SUPPORT and invalid ones to OPERATION_INVALID', async () => {
    const d = await conn.lookupByName('test');
    await assert.rejects(d.backupBegin('<domainbackup/>'), isNoSupport);
    await assert.rejects(
      d.monitorCommand('{"execute":"query-block"}'),
      (e) => e instanceof LibvirtError,
    );
    const off = await conn.defineDomain(transientXml('vv-off'));
    await assert.rejects(off.destroy(), isOperationInvalid);
    await off.undefine();
  });

  it('runs calls on its own thread pool, never more than 16 threads', async () => {
    const d = await conn.lookupByName('test');
    await Promise.all(Array.from({ length: 200 }, () => d.xml()));
    const s = Connection.poolStats();
    assert.ok(s.threads >= 2 && s.threads <= 16, JSON.stringify(s));
    assert.equal(s.pending, 0);
  });

  it('closes idempotently; later calls reject as connection lost', async () => {
    const c = await Connection.connect(URI);
    await Promise.all([c.close(), c.close()]);
    await c.close();
    assert.equal(c.closed, true);
    await assert.rejects(c.listDomains(), isConnectionLost);
    assert.equal(await c.isAlive(), false);
  });

  it('fails to open a bad URI with a typed error', async () => {
    await assert.rejects(Connection.connect('qemu:///system?socket=/nonexistent/sock'), (e) => {
      assert.ok(e instanceof LibvirtError);
      assert.equal(e.code, 'VIR_ERR_SYSTEM_ERROR');
      return true;
    });
  });
});

async function waitFor(cond: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) {
      throw new Error('condition not met in time');
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}
