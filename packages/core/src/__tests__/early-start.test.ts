import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { hasErrorCode } from '../errors.js';
import type { DomainLineage } from '../model/lineage.js';
import type { LineageStore, RunStart } from '../run/ports.js';
import { EARLY_START_CANCELLED } from '../run/early-start.js';

import { FakeLineageStore } from './fake-lineage-store.js';
import { makeWorld, type World } from './run-backup-suite.js';

/** A store whose `beginRun` waits until `open()`: the embedded store still starting. */
function slowStore(inner: FakeLineageStore): { store: LineageStore; open: () => void } {
  let open = (): void => undefined;
  const opened = new Promise<void>((r) => {
    open = r;
  });
  const store = Object.create(inner) as FakeLineageStore;
  store.beginRun = async (run: RunStart, stale: number) => {
    await opened;
    return inner.beginRun(run, stale);
  };
  return { store, open };
}

/** A world with plan hints that has one full behind it. */
async function afterFull(store: LineageStore): Promise<World> {
  const w = makeWorld(store, '01J', { hints: true });
  const full = await w.run();
  assert.equal(full.manifest.level, 'full');
  assert.equal(w.executor.requests[0]?.proceed, undefined, 'no hint before the first run');
  return w;
}

describe('runBackup starting early from plan hints', () => {
  it('starts the backup before the store answers and commits once the plans agree', async () => {
    const inner = new FakeLineageStore();
    const { store, open } = slowStore(inner);
    const w = await afterFull(inner);
    const running = w.run({ lineage: store });
    // the store has not begun the run, yet the backup is under way
    while (w.executor.requests.length < 2) {
      await new Promise((r) => setImmediate(r));
    }
    const early = w.executor.requests[1];
    assert.notEqual(early?.proceed, undefined);
    assert.equal(inner.runs.length, 1, 'the run is not in the store yet');
    assert.equal(w.repo.manifests.get('repo-suite')?.length, 1, 'nothing committed yet');
    open();
    const second = await running;
    assert.equal(second.manifest.level, 'incremental');
    assert.equal(second.manifest.id, early?.snapshotId);
    assert.equal(w.executor.requests.length, 2);
    assert.deepEqual(w.executor.cancelled, []);
    assert.equal(inner.runs[1]?.status, 'succeeded');
  });

  it('succeeds when the clean-up after a kept early start fails in the store', async () => {
    const inner = new FakeLineageStore();
    const w = await afterFull(inner);
    assert.equal((await w.run()).earlyStart, 'kept');
    assert.equal((await w.run()).earlyStart, 'kept');
    // the fourth run supersedes the full's checkpoint, which it removes after its commit
    const store = Object.create(inner) as FakeLineageStore;
    store.markCheckpoints = () => Promise.reject(new Error('the database went away'));
    const fourth = await w.run({ lineage: store });
    assert.equal(fourth.earlyStart, 'kept');
    assert.notDeepEqual(fourth.plan.cleanup, [], 'a clean-up was planned');
    assert.equal(inner.runs.at(-1)?.status, 'succeeded');
    assert.ok(
      fourth.cleanupFailures.some((f) => f.includes('the database went away')),
      fourth.cleanupFailures.join('; '),
    );
  });

  it('cancels an early start the store does not confirm, and runs its own plan', async () => {
    const store = new FakeLineageStore();
    const w = await afterFull(store);
    await w.run();
    const parent = (await w.lineage()).checkpoints.at(-1)?.name ?? '';
    // something besides a run (doctor --fix, say) changed the lineage: the hint is stale
    await store.markCheckpoints(w.uuid, [{ checkpoint: parent, state: 'broken', reason: 'X' }]);
    const before = w.repo.manifests.get('repo-suite')?.length;
    let seen: unknown = null;
    const execute = w.executor.execute.bind(w.executor);
    w.executor.execute = async (r) => {
      try {
        return await execute(r);
      } catch (e) {
        seen ??= e;
        throw e;
      }
    };
    const third = await w.run();
    assert.ok(
      hasErrorCode(seen, EARLY_START_CANCELLED),
      `cancelled with its code: ${String(seen)}`,
    );
    assert.equal(third.manifest.level, 'full');
    const cancelled = w.executor.cancelled;
    assert.equal(cancelled.length, 1);
    assert.equal(cancelled[0]?.level, 'incremental');
    assert.equal(cancelled[0]?.incrementalFrom, parent);
    const ids = (w.repo.manifests.get('repo-suite') ?? []).map((m) => m.id);
    assert.equal(ids.length, (before ?? 0) + 1);
    assert.ok(!ids.includes(cancelled[0]?.snapshotId ?? ''), 'the cancelled attempt left nothing');
    const cancelledCp = cancelled[0]?.newCheckpoint?.name ?? '';
    assert.ok(!w.hypervisor.state.checkpoints.some((c) => c.name === cancelledCp));
    // the hint now matches again: the next run starts early and is kept
    const fourth = await w.run();
    assert.equal(fourth.manifest.level, 'incremental');
    assert.notEqual(w.executor.requests.at(-1)?.proceed, undefined);
    assert.equal(w.executor.cancelled.length, 1);
  });

  it('keeps an early start whose plan differs in reasons only, and records the store’s', async () => {
    const store = new FakeLineageStore();
    const w = await afterFull(store);
    // the store lost track of the full (a repository that was not mounted): reconcile finds it
    // back before planning, which adds a reason the hint knows nothing of
    const full = store.snapshots[0];
    assert.ok(full !== undefined);
    full.status = 'missing';
    const second = await w.run();
    assert.equal(second.earlyStart, 'kept');
    assert.equal(second.manifest.level, 'incremental');
    assert.deepEqual(second.manifest.reasons, ['SNAPSHOT_RECONCILED']);
    assert.deepEqual(w.executor.requests[1]?.reasons, [], 'the hint’s plan had none');
    assert.equal(full.status, 'committed');
  });

  it('cancels the early start when the run cannot begin, leaving the repository alone', async () => {
    const store = new FakeLineageStore();
    const w = await afterFull(store);
    const name = w.hypervisor.state.domain.name;
    const other = { id: 'other-run', repository: 'repo-suite', domain: { uuid: w.uuid, name } };
    await store.beginRun({ ...other, host: 'host-a', startedAt: w.clock.now() }, 3_600_000);
    const before = structuredClone(w.repo.manifests.get('repo-suite'));
    await assert.rejects(w.run(), (e) => hasErrorCode(e, 'ALREADY_RUNNING'));
    assert.equal(w.executor.cancelled.length, 1);
    assert.deepEqual(w.repo.manifests.get('repo-suite'), before);
  });

  it('waits for the store when the plan must act before the backup', async () => {
    const store = new FakeLineageStore();
    const w = await afterFull(store);
    w.hypervisor.state.checkpoints = [];
    const second = await w.run();
    assert.ok(second.plan.reasons.includes('CHECKPOINT_REDEFINED'));
    assert.equal(w.executor.requests[1]?.proceed, undefined);
  });

  it('waits for the store when the hint is not a lineage the planner can read', async () => {
    const store = new FakeLineageStore();
    const w = await afterFull(store);
    const broken = {
      load: () => Promise.resolve({ snapshots: 'garbage' } as unknown as DomainLineage),
      save: () => Promise.resolve(),
    };
    const second = await w.run({ planHints: broken });
    assert.equal(second.earlyStart, 'none');
    assert.equal(second.manifest.level, 'incremental');
  });

  it('waits for the store for a shut-off domain', async () => {
    const store = new FakeLineageStore();
    const w = await afterFull(store);
    w.hypervisor.state.domain.state = 'shut-off';
    const second = await w.run();
    assert.equal(second.manifest.level, 'incremental');
    assert.equal(w.executor.requests[1]?.proceed, undefined);
  });
});
