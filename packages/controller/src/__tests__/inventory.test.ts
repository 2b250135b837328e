import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type { FleetHost, FleetStore } from '@virtvault/lineage';

import type { AgentPool } from '../agents.js';
import { Inventory } from '../inventory.js';

const host = (name: string, address: string): FleetHost =>
  ({ name, address, enabled: true }) as FleetHost;

/**
 * A fake fleet (hosts from a list the test changes) and a fake agent pool whose event streams stay
 * open until their signal aborts; records the signal of each stream.
 */
function fakes(hosts: FleetHost[]) {
  const streams = new Map<string, AbortSignal>();
  const state = { listFails: false };
  const fleet = {
    listHosts: () =>
      state.listFails ? Promise.reject(new Error('database down')) : Promise.resolve([...hosts]),
    recordInventory: () => Promise.resolve([]),
    setHostStatus: () => Promise.resolve(),
  } as unknown as FleetStore;
  const agents = {
    get: (h: FleetHost) => ({
      hostInfo: () => Promise.resolve({ agentVersion: 't' }),
      listDomains: () => Promise.resolve([]),
      watchEvents: async function* (signal: AbortSignal) {
        streams.set(`${h.name}@${h.address ?? ''}`, signal);
        await new Promise((r) => signal.addEventListener('abort', r, { once: true }));
        yield* [];
      },
    }),
  } as unknown as AgentPool;
  return { fleet, agents, streams, state };
}

const options = (log: string[]) => ({
  intervalMs: 3_600_000,
  callTimeoutMs: 1000,
  reconnectMs: 10,
  now: () => 0,
  log: (l: string) => log.push(l),
});

describe('inventory', () => {
  it('logs a failed poll instead of an unhandled rejection', async () => {
    const { fleet, agents, state } = fakes([]);
    state.listFails = true;
    const log: string[] = [];
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown) => unhandled.push(e);
    process.on('unhandledRejection', onUnhandled);
    const inv = new Inventory(fleet, agents, options(log));
    try {
      inv.start();
      await new Promise((r) => setTimeout(r, 50));
    } finally {
      inv.stop();
      process.off('unhandledRejection', onUnhandled);
    }
    assert.deepEqual(unhandled, []);
    assert.ok(
      log.some((l) => l.includes('inventory poll failed: database down')),
      log.join('\n'),
    );
  });

  it('stops the event watcher of a host removed or readdressed on another replica', async () => {
    const hosts = [host('a', 'a:7443'), host('b', 'b:7443')];
    const { fleet, agents, streams } = fakes(hosts);
    const inv = new Inventory(fleet, agents, options([]));
    try {
      await inv.refreshAll();
      assert.deepEqual([...streams.keys()].sort(), ['a@a:7443', 'b@b:7443']);
      hosts.splice(1, 1); // b removed
      hosts[0] = host('a', 'a2:7443'); // a moved
      await inv.refreshAll();
      assert.equal(
        streams.get('b@b:7443')?.aborted,
        true,
        'the removed host is no longer followed',
      );
      assert.equal(streams.get('a@a:7443')?.aborted, true, 'nor the old address');
      assert.equal(streams.get('a@a2:7443')?.aborted, false, 'the new address is followed');
    } finally {
      inv.stop();
    }
  });
});
