import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type { FinishedRun, ReportStore } from '@virtvault/lineage';

import { Notifier } from '../report/notifier.js';

const T0 = Date.parse('2026-11-01T03:00:00Z');

const FAILED: FinishedRun = {
  id: 'run-1',
  domainUuid: '11111111-1111-4111-8111-111111111111',
  name: 'web1',
  host: 'a',
  status: 'failed',
  level: 'incremental',
  reasons: [],
  errorCode: 'BACKUP_FAILED',
  errorMessage: 'boom',
  finishedAt: T0 - 1000,
  policy: null,
  snapshotId: null,
  repository: 'main',
};

/**
 * A fake report store in memory: `finishedRuns` answers by time window as the real one does, and
 * `enqueueNotification` fails while `down` is set (the database gone for a moment).
 */
function fakeStore(runs: FinishedRun[]) {
  const queued = new Set<string>();
  const state = { down: false };
  const store = {
    finishedRuns: (from: number, to: number) =>
      Promise.resolve(runs.filter((r) => r.finishedAt > from && r.finishedAt <= to)),
    vmStatus: () => Promise.resolve([]),
    policySettings: () => Promise.resolve([]),
    enqueueNotification: (n: { dedupeKey: string; url: string }) => {
      if (state.down) {
        return Promise.reject(new Error('connection refused'));
      }
      const key = `${n.dedupeKey} ${n.url}`;
      const fresh = !queued.has(key);
      queued.add(key);
      return Promise.resolve(fresh);
    },
    claimNotifications: () => Promise.resolve([]),
    finishNotification: () => Promise.resolve(true),
  } as unknown as ReportStore;
  return { store, queued, state };
}

describe('notifier', () => {
  it('queues a failed run in the next round when a round failed part way', async () => {
    const { store, queued, state } = fakeStore([FAILED]);
    let now = T0;
    const n = new Notifier({
      store,
      webhooks: ['http://127.0.0.1:9/hook'],
      defaultRpoMs: 86_400_000,
      now: () => now,
    });
    state.down = true;
    await assert.rejects(n.runOnce(), /connection refused/);
    state.down = false;
    now += 15_000;
    assert.equal((await n.runOnce()).queued, 1);
    assert.deepEqual([...queued], ['run-failed:run-1 http://127.0.0.1:9/hook']);
  });

  it('still sees a run whose finish was stamped just before the last round but committed after', async () => {
    const late = { ...FAILED, id: 'run-late', finishedAt: T0 - 500 };
    const runs: FinishedRun[] = [];
    const { store, queued } = fakeStore(runs);
    let now = T0;
    const n = new Notifier({ store, webhooks: ['http://h/1'], defaultRpoMs: 1e9, now: () => now });
    assert.equal((await n.runOnce()).queued, 0);
    runs.push(late); // its transaction committed only now
    now += 15_000;
    assert.equal((await n.runOnce()).queued, 1);
    assert.ok(queued.has('run-failed:run-late http://h/1'));
  });
});
