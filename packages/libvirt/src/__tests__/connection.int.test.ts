// Connections to the lab daemon: keepalive, lifecycle and block events, the daemon going away
// (close event + typed errors), and reconnecting.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';

import { Connection, hasCode, isConnectionLost, isNoDomain, type LibvirtEvent } from '../index.js';
import { LAB_ROOT, lab, labHost } from './lab-helper.js';

/** A host of its own: the test stops its daemon. */
const HOST = 'lvgone';
const VM = 'lvconn';

async function waitFor(cond: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    assert.ok(Date.now() < end, 'condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('connection to a lab daemon', () => {
  let uri: string;

  before(async () => {
    uri = await labHost(HOST);
  });
  after(async () => {
    await lab('rmvm', VM).catch(() => undefined);
    await lab('down', HOST);
  });

  it('opens with keepalive, sees lifecycle events of a transient domain', async () => {
    const conn = await Connection.connect(uri, { keepAlive: { intervalSec: 2, count: 3 } });
    const events: LibvirtEvent[] = [];
    conn.subscribe((e) => events.push(e));
    assert.equal(await conn.isAlive(), true);
    assert.equal(await conn.canonicalUri(), uri);
    await lab('vm', VM, '16M', '--host', HOST, '--transient');
    const d = await conn.lookupByName(VM);
    assert.equal(d.initialStatus.persistent, false);
    await d.destroy();
    await waitFor(() => events.some((e) => e.type === 'lifecycle' && e.event === 'stopped'), 5000);
    assert.ok(
      events.some((e) => e.type === 'lifecycle' && e.domain.name === VM && e.event === 'started'),
    );
    await assert.rejects(conn.lookupByName(VM), isNoDomain);
    await conn.close();
  });

  it('emits close and fails calls with a connection error when the daemon goes away; reconnects', async () => {
    const conn = await Connection.connect(uri, { keepAlive: { intervalSec: 1, count: 2 } });
    const events: LibvirtEvent[] = [];
    conn.subscribe((e) => events.push(e));
    await lab('down', HOST);
    await waitFor(() => events.some((e) => e.type === 'close'), 10_000);
    assert.equal(conn.lostReason, 'eof');
    assert.equal(conn.closed, true);
    await assert.rejects(conn.listDomains(), (e) => {
      assert.ok(isConnectionLost(e), String(e));
      return true;
    });
    await conn.close(); // still fine after the daemon is gone

    // reconnecting is the caller's job: a new connection once the daemon is back
    await labHost(HOST);
    const again = await Connection.connect(uri);
    assert.ok(Array.isArray(await again.listDomains()));
    await again.close();
  });
  it('a daemon that accepts but never answers: connect fails at its deadline, not never', async () => {
    await labHost(HOST);
    const pid = Number((await readFile(`${LAB_ROOT}/hosts/${HOST}/libvirtd.pid`, 'utf8')).trim());
    // stopped, its socket still accepts: the open's RPC handshake waits for an answer
    process.kill(pid, 'SIGSTOP');
    const started = Date.now();
    try {
      await assert.rejects(Connection.connect(uri, { timeoutMs: 1500 }), (e) => {
        assert.ok(hasCode(e, 'VIR_ERR_OPERATION_TIMEOUT'), String(e));
        return true;
      });
      assert.ok(Date.now() - started < 5000, `failed after ${Date.now() - started} ms`);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    const again = await Connection.connect(uri);
    assert.ok(Array.isArray(await again.listDomains()));
    await again.close();
  });

  it('a listing the daemon drops midway fails as such, never a short list', async () => {
    await labHost(HOST);
    const conn = await Connection.connect(uri);
    const names = Array.from({ length: 60 }, (_, i) => `lvmany-${i}`);
    await undefineMany(conn); // a failed run's, if any
    for (const name of names) {
      const xml =
        `<domain type='qemu'><name>${name}</name><memory unit='MiB'>16</memory>` +
        "<os><type arch='x86_64'>hvm</type></os></domain>";
      await conn.defineDomain(xml);
    }
    const counts: number[] = [];
    let lost: unknown = null;
    // back to back: the daemon's stop lands in one of them, most likely among the per-domain
    // queries that follow the listing itself (three calls per domain)
    const listing = (async () => {
      while (lost === null) {
        try {
          counts.push((await conn.listDomains()).length);
        } catch (e) {
          lost = e;
        }
      }
    })();
    await new Promise((r) => setTimeout(r, 300));
    await lab('down', HOST);
    await listing;
    await conn.close();
    const again = await Connection.connect(await labHost(HOST));
    await undefineMany(again);
    await again.close();
    assert.ok(isConnectionLost(lost), String(lost));
    assert.ok(counts.length > 0, 'listings before the stop');
    assert.deepEqual(
      counts.filter((n) => n < names.length),
      [],
      `every listing that resolved had all ${names.length} domains`,
    );
  });
});

/** Undefines the many domains of the listing test. */
async function undefineMany(conn: Connection): Promise<void> {
  for (const d of await conn.listDomains()) {
    if (d.name.startsWith('lvmany-')) {
      await d.undefine();
    }
  }
}
