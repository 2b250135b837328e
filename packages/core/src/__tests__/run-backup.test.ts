import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { hasErrorCode } from '../errors.js';

import { FakeLineageStore } from './fake-lineage-store.js';
import { makeWorld, runBackupSuite } from './run-backup-suite.js';

const shared = new FakeLineageStore();
// Every store of a suite shares one database, as two connections to Postgres would.
const sharedStore = (): Promise<FakeLineageStore & { close(): Promise<void> }> =>
  Promise.resolve(
    Object.assign(Object.create(shared) as FakeLineageStore, { close: () => Promise.resolve() }),
  );
runBackupSuite('the in-memory FakeLineageStore', sharedStore);
// the same scenarios end the same way when backups start early from the last run's lineage
runBackupSuite('the in-memory FakeLineageStore, with plan hints', sharedStore, { hints: true });

describe('runBackup records', () => {
  it('runs, events and checkpoint states in the store', async () => {
    const store = new FakeLineageStore();
    const w = makeWorld(store);
    await w.run();
    w.hypervisor.state.host = 'host-b';
    w.hypervisor.state.checkpoints = [];
    const second = await w.run();
    assert.deepEqual(second.plan.reasons, ['DOMAIN_MIGRATED', 'CHECKPOINT_REDEFINED']);
    assert.deepEqual(
      store.runs.map((r) => [r.status, r.finalLevel, r.host]),
      [
        ['succeeded', 'full', 'host-a'],
        ['succeeded', 'incremental', 'host-b'],
      ],
    );
    assert.deepEqual(
      store.events.map((e) => e.kind),
      ['domain-migrated', 'checkpoint-redefined'],
    );
    assert.equal(store.domains.get(w.uuid)?.currentHost, 'host-b');
    w.executor.failWith = Object.assign(new Error('disk gone'), { code: 'ENGINE_DISK_GONE' });
    await assert.rejects(w.run(), (e) => hasErrorCode(e, 'ENGINE_DISK_GONE'));
    assert.equal(store.runs[2]?.status, 'failed');
    assert.equal(store.runs[2]?.errorCode, 'ENGINE_DISK_GONE');
  });
});
