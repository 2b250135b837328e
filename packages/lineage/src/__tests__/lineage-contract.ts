/**
 * The lineage store contract: one suite, run against a Postgres server and against PGlite.
 * `makeStore` returns a store on the suite's database (a new connection each call where the
 * backend allows it).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';

import { type SnapshotManifest, hasErrorCode, planBackup } from '@virtvault/core';

// The runBackup scenario world lives with core's tests (compiled next to them).
import { makeWorld } from '../../../core/dist/__tests__/run-backup-suite.js';
import type { PgLineageStore } from '../pg-lineage-store.js';
import { rebuildFromManifests } from '../rebuild.js';

/** Opens a store on the suite's database. */
export type MakePgStore = () => Promise<PgLineageStore>;

const T0 = Date.UTC(2025, 0, 15, 12);
const HOUR = 3_600_000;
const REPO = 'repo-contract';

/** A manifest of a chain member. */
export function manifest(
  uuid: string,
  n: number,
  parent: string | null,
  host = 'host-a',
): SnapshotManifest {
  const at = new Date(T0 + n * HOUR).toISOString();
  const cp = `vv-01JCONTRACT${String(n).padStart(14, '0')}`;
  return {
    format: 'virtvault-snapshot',
    version: 1,
    id: `${uuid.slice(0, 8)}-s${n}`,
    domain: { uuid, name: `vm-${uuid.slice(0, 8)}` },
    host,
    level: parent ? 'incremental' : 'full',
    reasons: parent ? [] : ['NO_PARENT'],
    checkpoint: { name: cp, xml: `<domaincheckpoint><name>${cp}</name></domaincheckpoint>` },
    parent,
    domainXml: '<domain/>',
    disks: [
      {
        target: 'vda',
        source: '/images/vm.qcow2',
        format: 'qcow2',
        virtualSize: 10 * 1024 ** 3,
        index: 'vda.index',
        indexSha256: 'a'.repeat(64),
        bytesRead: 5 * 1024 ** 3,
        bytesNew: 4 * 1024 ** 3,
      },
    ],
    startedAt: at,
    endedAt: at,
    toolVersion: '0.1.0',
  };
}

const domainOf = (uuid: string): { uuid: string; name: string } => ({
  uuid,
  name: `vm-${uuid.slice(0, 8)}`,
});
const start = (uuid: string, id: string, at: number, host = 'host-a') => ({
  id,
  repository: REPO,
  domain: domainOf(uuid),
  host,
  startedAt: at,
});

/** Registers the contract for `makeStore`. */
export function lineageStoreContract(name: string, makeStore: MakePgStore): void {
  describe(`LineageStore contract on ${name}`, () => {
    it('allows one running run per domain and takes over stale ones', async () => {
      const s = await makeStore();
      try {
        const [a, b] = [randomUUID(), randomUUID()];
        assert.deepEqual(await s.beginRun(start(a, `${a}-1`, T0), HOUR), []);
        await assert.rejects(s.beginRun(start(a, `${a}-2`, T0 + 1), HOUR), (e) =>
          hasErrorCode(e, 'ALREADY_RUNNING'),
        );
        assert.deepEqual(await s.beginRun(start(b, `${b}-1`, T0), HOUR), []);
        await s.heartbeat(`${a}-1`, T0 + HOUR);
        await assert.rejects(s.beginRun(start(a, `${a}-3`, T0 + 1.5 * HOUR), HOUR));
        assert.deepEqual(await s.beginRun(start(a, `${a}-4`, T0 + 2 * HOUR, 'host-b'), HOUR), [
          `${a}-1`,
        ]);
        const runs = await s.listRuns(a);
        assert.deepEqual(
          runs.map((r) => [r.id, r.status, r.error_code]),
          [
            [`${a}-1`, 'abandoned', 'RUN_ABANDONED'],
            [`${a}-4`, 'running', null],
          ],
        );
        // a run on another host records the move once, from its plan (`recordFindings`)
        assert.equal((await s.listEvents(a)).length, 0);
      } finally {
        await s.close();
      }
    });

    it('records a move once: one domain-migrated event from the run that finds it', async () => {
      const s = await makeStore();
      try {
        const w = makeWorld(s, '01M');
        await w.run();
        w.hypervisor.state.host = 'host-b';
        w.hypervisor.state.checkpoints = [];
        const moved = await w.run();
        assert.deepEqual(moved.plan.reasons, ['DOMAIN_MIGRATED', 'CHECKPOINT_REDEFINED']);
        await w.run();
        assert.deepEqual((await s.listEvents(w.uuid)).map((e) => e.kind).sort(), [
          'checkpoint-redefined',
          'domain-migrated',
        ]);
      } finally {
        await s.close();
      }
    });

    it("lists a run's checkpoint as unconfirmed until the lineage learns how the run ended", async () => {
      const s = await makeStore();
      try {
        const uuid = randomUUID();
        const dom = domainOf(uuid);
        const start = (id: string, at: number, newCheckpoint?: string) =>
          s.beginRun(
            {
              id,
              repository: REPO,
              domain: dom,
              host: 'h',
              startedAt: at,
              ...(newCheckpoint !== undefined ? { newCheckpoint } : {}),
            },
            HOUR,
          );
        const unconfirmed = async () =>
          (await s.loadLineage('another-repo', dom)).unconfirmed?.map((u) => [
            u.name,
            u.repository,
          ]);
        assert.deepEqual(await unconfirmed(), [], 'a domain never backed up');
        // noted after the run began, as a run that was not started early notes it
        await start('r1', T0);
        await s.noteCheckpoint('r1', 'vv-1');
        assert.deepEqual(await unconfirmed(), [['vv-1', REPO]], 'while it runs');
        const whileRunning = (await s.loadLineage(REPO, dom)).unconfirmed;
        assert.equal(whileRunning?.[0]?.running, true, 'known to be running');
        const failure = { plannedLevel: null, reasons: [], finishedAt: T0 + 1 };
        await s.failRun('r1', { ...failure, errorCode: 'BACKUP_FAILED', message: 'x' });
        assert.deepEqual(await unconfirmed(), [], 'a run that failed before committing made none');
        // handed to beginRun, as an attempt started early does; its lineage commit then fails
        const m = manifest(uuid, 2, null);
        const cp = m.checkpoint?.name ?? '?';
        await start('r2', T0 + 2, cp);
        await s.failRun('r2', { ...failure, errorCode: 'LINEAGE_COMMIT_FAILED', message: 'x' });
        assert.deepEqual(await unconfirmed(), [[cp, REPO]], 'the snapshot may be committed');
        // the repository's next run recovers that snapshot (and its checkpoint) from its manifest
        await s.reconcile(REPO, uuid, [m], T0 + 3);
        assert.deepEqual(await unconfirmed(), [], 'recorded now');
        // a controller's run that lost its agent: the agent may have committed before the loss
        await start('r3', T0 + 4, 'vv-3');
        await s.failRun('r3', { ...failure, errorCode: 'AGENT_TIMEOUT', message: 'silent' });
        assert.deepEqual(await unconfirmed(), [['vv-3', REPO]], 'the agent may have committed');
      } finally {
        await s.close();
      }
    });

    it('has one owner tag, the same over every connection, for domains known or not', async () => {
      const [s, t] = [await makeStore(), await makeStore()];
      try {
        const uuid = randomUUID();
        const unknown = await s.loadLineage(REPO, domainOf(uuid));
        assert.match(unknown.owner ?? '', /^[0-9a-f]{8}$/);
        await s.reconcile(REPO, uuid, [manifest(uuid, 1, null)], T0);
        assert.equal((await t.loadLineage(REPO, domainOf(uuid))).owner, unknown.owner);
      } finally {
        await s.close();
        await t.close();
      }
    });

    it('commits snapshot, checkpoint and run in one go, idempotently with reconcile', async () => {
      const s = await makeStore();
      try {
        const uuid = randomUUID();
        const m1 = manifest(uuid, 1, null);
        await s.beginRun(start(uuid, `${uuid}-1`, T0), HOUR);
        const commit = {
          runId: `${uuid}-1`,
          repository: REPO,
          manifest: m1,
          plannedLevel: 'full' as const,
        };
        await s.commitSnapshot({ ...commit, reasons: ['NO_PARENT'], finishedAt: T0 + 60_000 });
        assert.deepEqual(await s.reconcile(REPO, uuid, [m1], T0 + HOUR), {
          imported: [],
          missing: [],
          found: [],
        });
        const l = await s.loadLineage(REPO, domainOf(uuid));
        assert.equal(l.domain.currentHost, 'host-a');
        assert.deepEqual(l.snapshots, [
          {
            id: m1.id,
            level: 'full',
            host: 'host-a',
            checkpoint: m1.checkpoint?.name ?? null,
            parent: null,
            status: 'committed',
            verify: 'unverified',
            disks: [
              {
                target: 'vda',
                source: '/images/vm.qcow2',
                format: 'qcow2',
                virtualSize: 10 * 1024 ** 3,
              },
            ],
            startedAt: Date.parse(m1.startedAt),
            endedAt: Date.parse(m1.endedAt),
          },
        ]);
        assert.deepEqual(
          l.checkpoints.map((c) => [c.name, c.state, c.repository, c.xml, c.disks]),
          [
            [
              m1.checkpoint?.name,
              'live',
              REPO,
              m1.checkpoint?.xml,
              [{ target: 'vda', bitmap: m1.checkpoint?.name }],
            ],
          ],
        );
        const [run] = await s.listRuns(uuid);
        assert.deepEqual(
          [run?.status, run?.final_level, run?.reasons, run?.snapshot_id],
          ['succeeded', 'full', ['NO_PARENT'], m1.id],
        );
        assert.deepEqual(await s.beginRun(start(uuid, `${uuid}-2`, T0 + HOUR), HOUR), []);
        await s.failRun(`${uuid}-2`, {
          errorCode: 'BACKUP_FAILED',
          message: 'x',
          plannedLevel: 'incremental',
          reasons: [],
          finishedAt: T0 + HOUR,
        });
        assert.deepEqual(await s.beginRun(start(uuid, `${uuid}-3`, T0 + HOUR), HOUR), []);
      } finally {
        await s.close();
      }
    });

    it('reconciles: imports unknown manifests, marks vanished snapshots missing, and back', async () => {
      const s = await makeStore();
      try {
        const uuid = randomUUID();
        const m1 = manifest(uuid, 1, null);
        const m2 = manifest(uuid, 2, m1.id);
        assert.deepEqual(await s.reconcile(REPO, uuid, [m1, m2], T0), {
          imported: [m1.id, m2.id],
          missing: [],
          found: [],
        });
        assert.deepEqual(await s.reconcile(REPO, uuid, [m1], T0), {
          imported: [],
          missing: [m2.id],
          found: [],
        });
        const l = await s.loadLineage(REPO, domainOf(uuid));
        assert.deepEqual(
          l.snapshots.map((x) => [x.id, x.status, x.parent]),
          [
            [m1.id, 'committed', null],
            [m2.id, 'missing', m1.id],
          ],
        );
        assert.equal(l.domain.currentHost, null);
        const other = await s.loadLineage('another-repo', domainOf(uuid));
        assert.equal(other.snapshots.length, 0);
        assert.equal(
          other.checkpoints.length,
          2,
          'checkpoints are per domain, across repositories',
        );
        // the repository was away (not mounted, say) and is back: so is the snapshot
        assert.deepEqual(await s.reconcile(REPO, uuid, [m1, m2], T0), {
          imported: [],
          missing: [],
          found: [m2.id],
        });
        const back = await s.loadLineage(REPO, domainOf(uuid));
        assert.deepEqual(
          back.snapshots.map((x) => x.status),
          ['committed', 'committed'],
        );
      } finally {
        await s.close();
      }
    });

    it('records checkpoint states; deleted is final', async () => {
      const s = await makeStore();
      try {
        const uuid = randomUUID();
        const m1 = manifest(uuid, 1, null);
        const cp = m1.checkpoint?.name ?? '';
        await s.reconcile(REPO, uuid, [m1], T0);
        await s.markCheckpoints(
          uuid,
          [{ checkpoint: cp, state: 'broken', reason: 'BITMAP_INCONSISTENT' }],
          T0,
        );
        let c = (await s.loadLineage(REPO, domainOf(uuid))).checkpoints[0];
        assert.deepEqual([c?.state, c?.stateReason], ['broken', 'BITMAP_INCONSISTENT']);
        await s.markCheckpoints(uuid, [{ checkpoint: cp, state: 'deleted', reason: 'broken' }], T0);
        await s.markCheckpoints(
          uuid,
          [
            { checkpoint: cp, state: 'broken', reason: 'late' },
            { checkpoint: 'vv-unknown', state: 'broken', reason: 'x' },
          ],
          T0,
        );
        c = (await s.loadLineage(REPO, domainOf(uuid))).checkpoints[0];
        assert.deepEqual([c?.state, c?.stateReason], ['deleted', 'broken']);
      } finally {
        await s.close();
      }
    });

    it('feeds the planner: a parent that failed verify forces a full', async () => {
      const s = await makeStore();
      try {
        const uuid = randomUUID();
        const m1 = manifest(uuid, 1, null);
        await s.reconcile(REPO, uuid, [m1], T0);
        await s.setVerifyState(REPO, m1.id, 'failed');
        const l = await s.loadLineage(REPO, domainOf(uuid));
        const cp = m1.checkpoint?.name ?? '';
        const observed = {
          host: 'host-a',
          domain: { ...domainOf(uuid), state: 'running' as const, transient: false },
          disks: [
            {
              target: 'vda',
              source: '/images/vm.qcow2',
              format: 'qcow2',
              virtualSize: 10 * 1024 ** 3,
              nodeName: null,
              bitmapsSupported: true,
              bitmaps: [
                { name: cp, recording: true, persistent: true, inconsistent: false, busy: false },
              ],
            },
          ],
          checkpoints: [{ name: cp, parent: null }],
        };
        const plan = planBackup(l, observed, { level: 'auto' }, T0 + HOUR);
        assert.equal(plan.level, 'full');
        assert.deepEqual(plan.reasons, ['PARENT_SNAPSHOT_UNUSABLE']);
        await s.setVerifyState(REPO, m1.id, 'ok');
        const again = planBackup(
          await s.loadLineage(REPO, domainOf(uuid)),
          observed,
          { level: 'auto' },
          T0 + HOUR,
        );
        assert.equal(again.level, 'incremental');
      } finally {
        await s.close();
      }
    });

    it('rebuilds a lost lineage from the manifests', async () => {
      const s = await makeStore();
      try {
        const [a, b] = [randomUUID(), randomUUID()];
        const a1 = manifest(a, 1, null);
        const a2 = manifest(a, 2, a1.id, 'host-b');
        const b1 = manifest(b, 1, null);
        const result = await rebuildFromManifests(s, REPO, [a2, b1, a1], T0);
        assert.deepEqual(result.get(a), { imported: [a1.id, a2.id], missing: [], found: [] });
        const again = await rebuildFromManifests(s, REPO, [a1, a2, b1], T0);
        assert.deepEqual(again.get(a), { imported: [], missing: [], found: [] });
        const l = await s.loadLineage(REPO, domainOf(a));
        assert.deepEqual(
          l.snapshots.map((x) => [x.id, x.level, x.parent, x.host]),
          [
            [a1.id, 'full', null, 'host-a'],
            [a2.id, 'incremental', a1.id, 'host-b'],
          ],
        );
        assert.deepEqual(
          l.checkpoints.map((c) => c.name),
          [a1.checkpoint?.name, a2.checkpoint?.name],
        );
      } finally {
        await s.close();
      }
    });
  });
}
