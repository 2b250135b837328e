// Connections to the lab daemon: keepalive, lifecycle and block events, the daemon going away
// (close event + typed errors), and reconnecting.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { Connection, isConnectionLost, isNoDomain, type LibvirtEvent } from '../index.js';
import { lab, labHost } from './lab-helper.js';

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
});
