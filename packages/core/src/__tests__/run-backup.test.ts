import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { hasErrorCode } from '../errors.js';

import { FakeLineageStore } from './fake-lineage-store.js';
import { makeWorld, runBackupSuite } from './run-backup-suite.js';
import { FakeExecutor, FakeRepository } from './run-fakes.js';

const HOUR = 3_600_000;

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

describe('runBackup beside another lineage', () => {
  it("two lineages on one domain each stay incremental and never remove the other's checkpoints", async () => {
    const storeA = new FakeLineageStore('aaaaaaaa');
    const storeB = new FakeLineageStore('bbbbbbbb');
    const w = makeWorld(storeA);
    // lineage B: its own repository, written by its own executor on the same host
    const repoB = new FakeRepository();
    const b = { lineage: storeB, manifests: repoB };
    const runB = () => w.run({ ...b, executor: new FakeExecutor(w.hypervisor, repoB, w.clock) });
    const levels: string[] = [];
    for (let i = 0; i < 4; i++) {
      levels.push((await w.run()).manifest.level, (await runB()).manifest.level);
      w.clock.advance(HOUR);
    }
    assert.deepEqual(levels, ['full', 'full', ...Array<string>(6).fill('incremental')]);
    const removed = w.hypervisor.calls.filter((c) => !c.startsWith('redefine'));
    const names = removed.map((c) => c.split(' ').find((x) => x.startsWith('vv-')) ?? '');
    // each lineage removes only its own superseded checkpoints
    assert.ok(names.length > 0);
    for (const n of names) {
      const owner = n.slice(3, 11);
      assert.ok(owner === 'aaaaaaaa' || owner === 'bbbbbbbb', n);
    }
    assert.match(storeA.snapshots.at(-1)?.checkpoint ?? '', /^vv-aaaaaaaa-/);
    assert.match(storeB.snapshots.at(-1)?.checkpoint ?? '', /^vv-bbbbbbbb-/);
    const onHost = w.hypervisor.state.checkpoints.map((c) => c.name.slice(0, 11)).sort();
    assert.ok(onHost.includes('vv-aaaaaaaa') && onHost.includes('vv-bbbbbbbb'), onHost.join());
  });
});
