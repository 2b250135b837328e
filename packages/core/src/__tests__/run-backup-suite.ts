/**
 * The runBackup scenario suite over any `LineageStore`: the in-memory fake here, the Postgres and
 * PGlite stores in `@virtvault/lineage`'s integration tests. Hypervisor, executor and repository
 * are fakes. Asserts only what the ports show.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';

import { CoreError, hasErrorCode } from '../errors.js';
import type { DomainLineage } from '../model/lineage.js';
import type { SnapshotManifest } from '../model/manifest.js';
import type {
  BackupExecutor,
  BackupRequest,
  LineageStore,
  RunFailure,
  SnapshotCommit,
} from '../run/ports.js';
import { type RunBackupDeps, type RunBackupResult, runBackup } from '../run/run-backup.js';

import {
  FakeClock,
  FakeExecutor,
  FakeHypervisor,
  FakeIds,
  FakePlanHints,
  FakeRepository,
} from './run-fakes.js';

const REPO = 'repo-suite';
/** A second repository the same domain is backed up to (one store, one lineage). */
const OTHER_REPO = 'repo-suite-other';
const T0 = Date.UTC(2025, 0, 15, 12);
const HOUR = 3_600_000;

/** A store factory: one store per call (same database for a suite), closed by `close`. */
export type MakeStore = () => Promise<LineageStore & { close(): Promise<void> }>;

/** A test world. */
export interface World {
  uuid: string;
  clock: FakeClock;
  repo: FakeRepository;
  hypervisor: FakeHypervisor;
  executor: FakeExecutor;
  deps: RunBackupDeps;
  run: (deps?: Partial<RunBackupDeps>) => Promise<RunBackupResult>;
  lineage: () => Promise<DomainLineage>;
}

/** Options of a suite run. */
export interface SuiteOptions {
  /** Give runBackup plan hints, so runs start their backups early when they can. */
  hints?: boolean;
}

/** One world: a domain on host-a with one qcow2 disk, fakes around it, a store. */
export function makeWorld(
  store: LineageStore,
  idPrefix = '01J',
  options: SuiteOptions = {},
): World {
  const uuid = randomUUID();
  const clock = new FakeClock(T0);
  const repo = new FakeRepository();
  const hypervisor = new FakeHypervisor({
    host: 'host-a',
    domain: { uuid, name: `vm-${uuid.slice(0, 8)}`, state: 'running', transient: false },
    disks: [
      {
        target: 'vda',
        source: `/images/${uuid}.qcow2`,
        format: 'qcow2',
        virtualSize: 1 << 30,
        nodeName: 'libvirt-1-format',
        bitmapsSupported: true,
        bitmaps: [],
      },
    ],
    checkpoints: [],
  });
  const executor = new FakeExecutor(hypervisor, repo, clock);
  const deps: RunBackupDeps = {
    hypervisor,
    executor,
    lineage: store,
    manifests: repo,
    clock,
    ids: new FakeIds(`${idPrefix}${uuid.slice(0, 6).toUpperCase()}`),
    ...(options.hints === true ? { planHints: new FakePlanHints() } : {}),
  };
  const run = (deps2: Partial<RunBackupDeps> = {}) =>
    runBackup(
      { ...deps, ...deps2 },
      { domain: uuid, repository: REPO, policy: { level: 'auto' }, staleRunAfterMs: HOUR },
    );
  const lineage = () => store.loadLineage(REPO, { uuid, name: hypervisor.state.domain.name });
  return { uuid, clock, repo, hypervisor, executor, deps, run, lineage };
}

/** Delegates to a store but loses the lineage commit (and the failure record) like a crash. */
function crashingOnCommit(inner: LineageStore): LineageStore {
  const crash = (): Promise<never> =>
    Promise.reject(new Error('connection lost (simulated crash)'));
  return {
    beginRun: (r, s) => inner.beginRun(r, s),
    heartbeat: (id, at) => inner.heartbeat(id, at),
    noteCheckpoint: (id, cp) => inner.noteCheckpoint(id, cp),
    reconcile: (r, d, m, at) => inner.reconcile(r, d, m, at),
    loadLineage: (r, d) => inner.loadLineage(r, d),
    markCheckpoints: (d, u, at) => inner.markCheckpoints(d, u, at),
    recordEvent: (e) => inner.recordEvent(e),
    commitSnapshot: (_c: SnapshotCommit) => crash(),
    failRun: (_id: string, _f: RunFailure) => crash(),
  };
}

const ids = (ms: SnapshotManifest[]): string[] => ms.map((m) => m.id);

/**
 * An executor that refuses the first request `refuse` answers with an error (`refuse` changes the
 * fake hypervisor as the refusal's cause would) and hands every other to the world's executor.
 */
function refusingOnce(
  w: World,
  refuse: (req: BackupRequest) => Error | null,
): { executor: BackupExecutor; refusals: () => number } {
  let refusals = 0;
  const executor = {
    execute: (req: BackupRequest) => {
      const e = refusals === 0 ? refuse(req) : null;
      if (e !== null) {
        refusals += 1;
        return Promise.reject(e);
      }
      return w.executor.execute(req);
    },
  };
  return { executor, refusals: () => refusals };
}

/** `store` with its heartbeat replaced by `beat` (which may call the store's own). */
function withHeartbeat<S extends LineageStore>(s: S, beat: LineageStore['heartbeat']): S {
  return new Proxy(s, {
    get(target, key) {
      if (key === 'heartbeat') {
        return beat;
      }
      const v: unknown = Reflect.get(target, key, target);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

/** Registers the scenarios for `makeStore`. */
export function runBackupSuite(
  name: string,
  makeStore: MakeStore,
  options: SuiteOptions = {},
): void {
  const world = (store: LineageStore, idPrefix?: string): World =>
    makeWorld(store, idPrefix, options);
  describe(`runBackup over ${name}`, () => {
    it('takes a full, then an incremental from its checkpoint', async () => {
      const store = await makeStore();
      try {
        const w = world(store);
        const first = await w.run();
        assert.equal(first.manifest.level, 'full');
        assert.deepEqual(first.plan.reasons, ['NO_PARENT']);
        w.clock.advance(HOUR * 24);
        const second = await w.run();
        assert.equal(second.manifest.level, 'incremental');
        assert.equal(second.manifest.parent, first.manifest.id);
        assert.equal(w.executor.requests[1]?.incrementalFrom, first.manifest.checkpoint?.name);
        const l = await w.lineage();
        assert.deepEqual(
          l.snapshots.map((s) => [s.id, s.level, s.parent]),
          [
            [first.manifest.id, 'full', null],
            [second.manifest.id, 'incremental', first.manifest.id],
          ],
        );
        assert.deepEqual(
          l.checkpoints.map((c) => c.state),
          ['live', 'live'],
        );
      } finally {
        await store.close();
      }
    });

    it('redefines only the parent after the domain lost its checkpoint metadata', async () => {
      const store = await makeStore();
      try {
        const w = world(store);
        await w.run();
        await w.run();
        w.hypervisor.state.checkpoints = [];
        w.hypervisor.state.domain.transient = true;
        w.hypervisor.calls.length = 0;
        const third = await w.run();
        assert.equal(third.manifest.level, 'incremental');
        assert.deepEqual(third.plan.reasons, ['CHECKPOINT_REDEFINED', 'DOMAIN_TRANSIENT']);
        const parentCp = (await w.lineage()).checkpoints[1]?.name ?? '';
        assert.deepEqual(w.hypervisor.calls.slice(0, 1), [`redefine ${parentCp} validate`]);
        assert.equal(w.hypervisor.calls.filter((c) => c.startsWith('redefine')).length, 1);
      } finally {
        await store.close();
      }
    });

    it('retries once as a full when the incremental is rejected at start', async () => {
      const store = await makeStore();
      try {
        const w = world(store);
        const first = await w.run();
        w.executor.rejectIncrementals = 1;
        w.hypervisor.calls.length = 0;
        const second = await w.run();
        assert.equal(second.attempts, 2);
        assert.equal(second.plannedLevel, 'incremental');
        assert.equal(second.manifest.level, 'full');
        assert.ok(second.plan.reasons.includes('INCREMENTAL_FAILED'));
        const cp = first.manifest.checkpoint?.name ?? '';
        assert.deepEqual(w.hypervisor.calls, [
          `delete-metadata ${cp}`,
          `remove-bitmap vda ${cp} qmp`,
        ]);
        const l = await w.lineage();
        assert.equal(l.checkpoints.find((c) => c.name === cp)?.state, 'deleted');
        assert.notEqual(w.executor.requests[1]?.snapshotId, w.executor.requests[2]?.snapshotId);
      } finally {
        await store.close();
      }
    });

    it('plans again when the checkpoint vanished between plan and start: redefined, still incremental', async () => {
      const store = await makeStore();
      try {
        const w = world(store);
        const first = await w.run();
        const cp = first.manifest.checkpoint?.name ?? '';
        const { executor, refusals } = refusingOnce(w, (req) => {
          if (req.level === 'full') {
            return null;
          }
          // the domain re-created between the run's look and the job's start: metadata gone,
          // bitmaps fine, and libvirt's refusal as it words it
          w.hypervisor.state.checkpoints = [];
          const msg = `Domain checkpoint not found: Checkpoint '${cp}' for incremental backup of disk 'vda' not found`;
          return new CoreError('INCREMENTAL_REJECTED', msg);
        });
        w.hypervisor.calls.length = 0;
        const second = await w.run({ executor });
        assert.equal(refusals(), 1);
        assert.equal(second.attempts, 2);
        assert.equal(second.manifest.level, 'incremental', second.plan.reasons.join());
        assert.equal(second.manifest.parent, first.manifest.id);
        assert.ok(second.plan.reasons.includes('CHECKPOINT_REDEFINED'), second.plan.reasons.join());
        assert.ok(!second.plan.reasons.includes('INCREMENTAL_FAILED'));
        assert.deepEqual(w.hypervisor.calls, [`redefine ${cp} validate`]);
        const l = await w.lineage();
        assert.equal(
          l.checkpoints.find((c) => c.name === cp)?.state,
          'live',
          'not taken for broken',
        );
      } finally {
        await store.close();
      }
    });

    it('plans again when a bitmap broke between plan and start: a full that names the cause', async () => {
      const store = await makeStore();
      try {
        const w = world(store);
        const first = await w.run();
        const cp = first.manifest.checkpoint?.name ?? '';
        const { executor } = refusingOnce(w, (req) => {
          if (req.level === 'full') {
            return null;
          }
          // QEMU killed between the look and the start: the bitmap is left in use
          w.hypervisor.markAllInconsistent();
          const msg = `checkpoint inconsistent: missing or broken bitmap '${cp}' for disk 'vda'`;
          return new CoreError('INCREMENTAL_REJECTED', msg);
        });
        const second = await w.run({ executor });
        assert.equal(second.attempts, 2);
        assert.equal(second.manifest.level, 'full');
        assert.ok(!second.plan.reasons.includes('INCREMENTAL_FAILED'), second.plan.reasons.join());
        const l = await w.lineage();
        const broken = l.checkpoints.find((c) => c.name === cp);
        assert.ok(broken?.state === 'broken' || broken?.state === 'deleted', broken?.state);
        assert.ok(
          broken?.stateReason !== 'INCREMENTAL_FAILED',
          `recorded as ${broken?.stateReason ?? ''}`,
        );
      } finally {
        await store.close();
      }
    });

    it('plans again when a disk was resized between the look and the job: a full of the new size', async () => {
      const store = await makeStore();
      try {
        const w = world(store);
        await w.run();
        const { executor } = refusingOnce(w, () => {
          const vda = w.hypervisor.state.disks[0];
          if (vda === undefined) {
            return null;
          }
          // grown after the look: the engine finds the export larger than planned
          vda.virtualSize *= 2;
          const msg = `disk vda is ${vda.virtualSize} bytes now, ${vda.virtualSize / 2} when planned`;
          return new CoreError('DISKS_CHANGED', msg);
        });
        const second = await w.run({ executor });
        assert.equal(second.attempts, 2);
        assert.equal(second.manifest.level, 'full');
        assert.ok(second.plan.reasons.includes('DISKS_CHANGED'), second.plan.reasons.join());
        const last = w.executor.requests.at(-1);
        assert.equal(last?.observed.disks[0]?.virtualSize, 2 ** 31, 'the new size is backed up');
      } finally {
        await store.close();
      }
    });

    it("retries once as a full when the parent's index or manifest cannot be read", async () => {
      const store = await makeStore();
      try {
        const w = world(store);
        await w.run();
        w.executor.unreadableParents = 1;
        const second = await w.run();
        assert.equal(second.attempts, 2);
        assert.equal(second.plannedLevel, 'incremental');
        assert.equal(second.manifest.level, 'full');
        assert.deepEqual(second.plan.reasons, ['PARENT_SNAPSHOT_UNUSABLE']);
        assert.equal((await w.run()).manifest.level, 'incremental', 'the chain goes on from it');
      } finally {
        await store.close();
      }
    });

    it('takes a full when libvirt refuses the redefine, and survives clean-up failures', async () => {
      const store = await makeStore();
      try {
        const w = world(store);
        await w.run();
        w.hypervisor.state.checkpoints = [];
        w.hypervisor.failRedefine =
          "checkpoint inconsistent: missing or broken bitmap 'x' for disk 'vda'";
        w.hypervisor.failRemoveBitmap = 'bitmap busy';
        const second = await w.run();
        assert.equal(second.manifest.level, 'full');
        assert.deepEqual(second.plan.reasons, ['CHECKPOINT_REDEFINED', 'REDEFINE_FAILED']);
        assert.equal(second.cleanupFailures.length, 1);
        const l = await w.lineage();
        assert.deepEqual(
          l.checkpoints.map((c) => c.state),
          ['broken', 'live'],
        );
      } finally {
        await store.close();
      }
    });

    it("keeps a checkpoint's bitmaps when its metadata could not be deleted (never metadata without a bitmap)", async () => {
      const store = await makeStore();
      try {
        const w = world(store);
        await w.run();
        const [cp] = w.hypervisor.state.checkpoints;
        w.hypervisor.markAllInconsistent();
        w.hypervisor.failDeleteMetadata = 'libvirt: operation timed out';
        const before = w.hypervisor.calls.length;
        const second = await w.run();
        assert.equal(second.manifest.level, 'full');
        const calls = w.hypervisor.calls.slice(before);
        assert.ok(calls.includes(`delete-metadata ${cp?.name}`), calls.join('; '));
        assert.ok(
          !calls.some((c) => c.startsWith('remove-bitmap') && c.includes(cp?.name ?? '?')),
          calls.join('; '),
        );
        assert.ok(second.cleanupFailures.some((f) => f.includes('operation timed out')));
      } finally {
        await store.close();
      }
    });

    it('stops when taken over during its clean-up (RUN_TAKEN_OVER), recording what it removed', async () => {
      const store = await makeStore();
      try {
        let calls: string[] = [];
        let from = Number.POSITIVE_INFINITY;
        let takeOver: (() => Promise<unknown>) | null = null;
        // another process takes the domain over once the run has removed its first checkpoint
        const racing = withHeartbeat(store, async (id, at) => {
          const cleaning = calls.slice(from).some((c) => c.startsWith('delete-metadata'));
          if (takeOver !== null && cleaning) {
            const t = takeOver;
            takeOver = null;
            await t();
          }
          return store.heartbeat(id, at);
        });
        const w = world(racing);
        calls = w.hypervisor.calls;
        await w.run();
        w.clock.advance(HOUR);
        await w.run();
        w.hypervisor.markAllInconsistent();
        from = calls.length;
        const domain = { uuid: w.uuid, name: w.hypervisor.state.domain.name };
        takeOver = () =>
          store.beginRun(
            {
              id: `taker-${w.uuid}`,
              repository: REPO,
              domain,
              host: 'host-a',
              startedAt: w.clock.now(),
            },
            0,
          );
        await assert.rejects(w.run(), (e) => hasErrorCode(e, 'RUN_TAKEN_OVER'));
        const deleted = calls.slice(from).filter((c) => c.startsWith('delete-metadata'));
        assert.equal(deleted.length, 1, `it stopped after one: ${calls.slice(from).join('; ')}`);
        const l = await w.lineage();
        assert.equal(l.snapshots.length, 2, 'nothing committed');
        assert.equal(
          l.checkpoints.filter((c) => c.state === 'deleted').length,
          1,
          'the checkpoint it removed is recorded as deleted',
        );
      } finally {
        await store.close();
      }
    });

    it('stops when taken over during its backup (RUN_TAKEN_OVER at a heartbeat), committing nothing', async () => {
      const store = await makeStore();
      try {
        const w = world(store);
        await w.run();
        w.clock.advance(HOUR);
        const domain = { uuid: w.uuid, name: w.hypervisor.state.domain.name };
        const executor = {
          execute: async (req: Parameters<FakeExecutor['execute']>[0]) => {
            // the attempt has begun (an early one once confirmed) when another process takes over
            await req.proceed;
            const taker = { id: `taker-${w.uuid}`, repository: REPO, domain, host: 'host-a' };
            await store.beginRun({ ...taker, startedAt: w.clock.now() }, 0);
            return w.executor.execute(req);
          },
        };
        await assert.rejects(w.run({ executor }), (e) => hasErrorCode(e, 'RUN_TAKEN_OVER'));
        const l = await w.lineage();
        assert.equal(l.snapshots.length, 1, 'nothing committed, and no retry as a full');
      } finally {
        await store.close();
      }
    });

    it('sends a heartbeat after each checkpoint it cleans up, so a long clean-up is not taken over', async () => {
      const store = await makeStore();
      try {
        // where each heartbeat came, in the hypervisor's calls
        const beats: number[] = [];
        let calls: string[] = [];
        const counting = withHeartbeat(store, (id, at) => {
          beats.push(calls.length);
          return store.heartbeat(id, at);
        });
        const w = world(counting);
        calls = w.hypervisor.calls;
        await w.run();
        w.clock.advance(HOUR);
        await w.run();
        w.hypervisor.markAllInconsistent();
        const from = calls.length;
        await w.run();
        const cleaning = calls
          .map((c, i) => [c, i] as const)
          .filter(([c, i]) => i >= from && c.startsWith('delete-metadata'));
        assert.equal(cleaning.length, 2, calls.slice(from).join('; '));
        // a heartbeat between the first checkpoint's clean-up and the second's
        const second = cleaning[1]?.[1] ?? 0;
        assert.ok(
          beats.some((b) => b > (cleaning[0]?.[1] ?? 0) && b <= second),
          `heartbeats at ${beats.join(', ')}; calls ${calls.slice(from).join('; ')}`,
        );
      } finally {
        await store.close();
      }
    });

    it('a redefine failing for no checkpoint reason (a timeout) leaves the parent for the next run', async () => {
      const store = await makeStore();
      try {
        const w = world(store);
        const first = await w.run();
        const parentCp = first.manifest.checkpoint?.name ?? '?';
        w.hypervisor.state.checkpoints = [];
        w.hypervisor.failRedefine =
          'Timed out during operation: cannot acquire state change lock (held by monitor)';
        // libvirtd was restarting: tonight's full fails as well
        w.executor.failWith = new Error('cannot connect to libvirtd');
        await assert.rejects(w.run());
        assert.ok(
          !w.hypervisor.calls.some((c) => c.startsWith('remove-bitmap') && c.includes(parentCp)),
          w.hypervisor.calls.join('; '),
        );
        assert.deepEqual(
          (await w.lineage()).checkpoints.map((c) => [c.name, c.state]),
          [[parentCp, 'live']],
        );
        w.hypervisor.failRedefine = null;
        w.executor.failWith = null;
        const next = await w.run();
        assert.equal(next.manifest.level, 'incremental', next.plan.reasons.join(', '));
        assert.equal(next.manifest.parent, first.manifest.id);
      } finally {
        await store.close();
      }
    });

    it('lets exactly one of two concurrent runs of a domain proceed', async () => {
      const store = await makeStore();
      const store2 = await makeStore();
      try {
        const w = world(store);
        let open = (): void => undefined;
        w.executor.gate = new Promise((resolve) => (open = resolve));
        const a = w.run();
        const b = w.run({ lineage: store2, ids: new FakeIds(`01K${w.uuid.slice(0, 6)}`) });
        // Whichever loses the race settles first (the winner waits at the gate): then open it.
        await Promise.race([a, b]).then(open, open);
        const settled = await Promise.allSettled([a, b]);
        const ok = settled.filter((s) => s.status === 'fulfilled');
        const refused = settled.flatMap((s) =>
          s.status === 'rejected' ? [s.reason as unknown] : [],
        );
        assert.equal(ok.length, 1);
        assert.equal(refused.length, 1);
        assert.ok(hasErrorCode(refused[0], 'ALREADY_RUNNING'), String(refused[0]));
        assert.equal((await w.lineage()).snapshots.length, 1);
      } finally {
        await store2.close();
        await store.close();
      }
    });

    it('repairs a crash between repository commit and lineage commit, without duplicates', async () => {
      const store = await makeStore();
      try {
        const w = world(store);
        const first = await w.run();
        w.clock.advance(HOUR);
        await assert.rejects(w.run({ lineage: crashingOnCommit(store) }), (e) =>
          hasErrorCode(e, 'LINEAGE_COMMIT_FAILED'),
        );
        const repoIds = ids(w.repo.manifests.get(REPO) ?? []);
        assert.equal(repoIds.length, 2);
        assert.equal((await w.lineage()).snapshots.length, 1);
        // the crashed run still holds the domain until its lease expires
        w.clock.advance(HOUR / 2);
        await assert.rejects(w.run(), (e) => hasErrorCode(e, 'ALREADY_RUNNING'));
        w.clock.advance(HOUR);
        const third = await w.run();
        assert.ok(third.plan.reasons.includes('SNAPSHOT_RECONCILED'));
        assert.equal(third.manifest.level, 'incremental');
        assert.equal(third.manifest.parent, repoIds[1]);
        const l = await w.lineage();
        assert.deepEqual(
          l.snapshots.map((s) => s.id),
          [first.manifest.id, repoIds[1], third.manifest.id],
        );
        const again = await w.run();
        assert.ok(!again.plan.reasons.includes('SNAPSHOT_RECONCILED'));
        assert.equal((await w.lineage()).snapshots.length, 4);
      } finally {
        await store.close();
      }
    });

    it("leaves another repository's checkpoint alone when its lineage commit was lost", async () => {
      const store = await makeStore();
      try {
        const w = world(store);
        const other = () =>
          runBackup(w.deps, {
            domain: w.uuid,
            repository: OTHER_REPO,
            policy: { level: 'auto' },
            staleRunAfterMs: HOUR,
          });
        await w.run();
        await other();
        w.clock.advance(HOUR);
        await assert.rejects(w.run({ lineage: crashingOnCommit(store) }), (e) =>
          hasErrorCode(e, 'LINEAGE_COMMIT_FAILED'),
        );
        // in the repository, not in the lineage: its checkpoint is on the host, named by no row
        const lost = (w.repo.manifests.get(REPO) ?? []).at(-1);
        const name = lost?.checkpoint?.name ?? '?';
        assert.ok(w.hypervisor.state.checkpoints.some((c) => c.name === name));
        w.clock.advance(2 * HOUR);
        const o = await other();
        assert.ok(
          !o.plan.cleanup.some((c) => c.checkpoint === name),
          `the other repository's run leaves ${name} alone`,
        );
        assert.equal(o.manifest.level, 'incremental');
        const next = await w.run();
        assert.equal(next.manifest.level, 'incremental', next.plan.reasons.join(', '));
        assert.equal(next.manifest.parent, lost?.id);
        assert.ok(next.plan.reasons.includes('SNAPSHOT_RECONCILED'));
      } finally {
        await store.close();
      }
    });

    it('records a failed backup and frees the domain for the next run', async () => {
      const store = await makeStore();
      try {
        const w = world(store);
        w.executor.failWith = new Error('NBD read failed');
        await assert.rejects(w.run(), (e) => hasErrorCode(e, 'BACKUP_FAILED'));
        w.executor.failWith = null;
        const next = await w.run();
        assert.equal(next.manifest.level, 'full');
        assert.equal((await w.lineage()).snapshots.length, 1);
      } finally {
        await store.close();
      }
    });

    it('never builds on a parent that failed verify in the repository: a full, then on from it', async () => {
      const store = await makeStore();
      try {
        const w = world(store);
        const first = await w.run();
        w.repo.verified.set(first.manifest.id, 'failed');
        w.clock.advance(HOUR);
        const second = await w.run();
        assert.equal(second.manifest.level, 'full');
        assert.ok(
          second.plan.reasons.includes('PARENT_SNAPSHOT_UNUSABLE'),
          second.plan.reasons.join(', '),
        );
        assert.match(
          second.plan.details.find((d) => d.code === 'PARENT_SNAPSHOT_UNUSABLE')?.message ?? '',
          /failed verify/,
        );
        w.repo.verified.set(second.manifest.id, 'ok');
        w.clock.advance(HOUR);
        const third = await w.run();
        assert.equal(third.manifest.level, 'incremental');
        assert.equal(third.manifest.parent, second.manifest.id);
      } finally {
        await store.close();
      }
    });

    it('marks snapshots whose manifest vanished and takes a full; commits them when back', async () => {
      const store = await makeStore();
      try {
        const w = world(store);
        await w.run();
        const away = w.repo.manifests.get(REPO) ?? [];
        w.repo.manifests.set(REPO, []);
        const second = await w.run();
        assert.equal(second.manifest.level, 'full');
        assert.deepEqual(second.plan.reasons, ['PARENT_SNAPSHOT_UNUSABLE', 'SNAPSHOT_RECONCILED']);
        assert.deepEqual(
          (await w.lineage()).snapshots.map((s) => s.status),
          ['missing', 'committed'],
        );
        // the first manifest is back (a repository that was not mounted): so is its snapshot
        w.repo.manifests.set(REPO, [...away, ...(w.repo.manifests.get(REPO) ?? [])]);
        const third = await w.run();
        assert.equal(third.manifest.level, 'incremental');
        assert.ok(third.plan.reasons.includes('SNAPSHOT_RECONCILED'));
        assert.deepEqual(
          (await w.lineage()).snapshots.map((s) => s.status),
          ['committed', 'committed', 'committed'],
        );
      } finally {
        await store.close();
      }
    });
  });
}
