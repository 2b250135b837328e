import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type {
  BackupRequest,
  LineageStore,
  ObservedDomain,
  SnapshotManifest,
} from '@virtvault/core';
import type { FleetStore } from '@virtvault/lineage';
import type { AgentApi, AgentBackupRequest, StreamOptions } from '@virtvault/proto';

import { codeOf } from '../errors.js';
import { remotePorts, TaggedLineage } from '../remote-ports.js';

const U1 = '11111111-1111-4111-8111-111111111111';
const U2 = '22222222-2222-4222-8222-222222222222';
const OBSERVED = {
  host: 'a',
  domain: { uuid: U1, name: 'web1', state: 'running', transient: false },
  disks: [],
  checkpoints: [],
} as unknown as ObservedDomain;

const manifest = (o: Partial<SnapshotManifest> & { uuid?: string } = {}): SnapshotManifest =>
  ({
    id: 's1',
    domain: { uuid: o.uuid ?? U1, name: 'web1' },
    host: 'a',
    level: 'full',
    ...o,
  }) as SnapshotManifest;

/** A fake agent: records the signal its backup got, answers with `answer`. */
function fakeAgent(answer: SnapshotManifest, listed: SnapshotManifest[] = []) {
  const seen: { abortedAtStart: boolean | null } = { abortedAtStart: null };
  const agent = {
    runBackup: (_r: AgentBackupRequest, o?: StreamOptions) => {
      seen.abortedAtStart = o?.signal?.aborted ?? false;
      return o?.signal?.aborted === true
        ? Promise.reject(Object.assign(new Error('cancelled'), { code: 'AGENT_CANCELLED' }))
        : Promise.resolve(answer);
    },
    listManifests: () => Promise.resolve(listed),
  } as unknown as AgentApi;
  return { agent, seen };
}

function ports(agent: AgentApi, signal: AbortSignal) {
  const lineage = new TaggedLineage(
    {} as LineageStore,
    {} as FleetStore,
    {
      trigger: 'manual',
    } as never,
  );
  lineage.runId = 'run-1';
  return remotePorts({
    agent,
    lineage,
    signal,
    callTimeoutMs: 1000,
    streamSilenceMs: 60_000,
    prefetched: OBSERVED,
    onProgress: () => undefined,
    clock: { now: () => 0 },
    ids: { next: () => 'id' },
  });
}

const REQUEST = {
  repository: 'main',
  snapshotId: 's1',
  observed: OBSERVED,
  level: 'full',
  parentSnapshot: null,
  incrementalFrom: null,
  newCheckpoint: null,
  reasons: [],
  heartbeat: () => Promise.resolve(),
} as BackupRequest;

describe('remote ports', () => {
  it('never starts the agent backup of a job aborted before the stream', async () => {
    const { agent, seen } = fakeAgent(manifest());
    const ac = new AbortController();
    ac.abort(new Error('lock lost'));
    const e = await ports(agent, ac.signal)
      .executor.execute(REQUEST)
      .catch((x: unknown) => x);
    assert.equal(codeOf(e), 'AGENT_CANCELLED');
    assert.equal(seen.abortedAtStart, true);
  });

  it('cancels the agent backup when a heartbeat says another run took over (RUN_TAKEN_OVER)', async () => {
    let cancelled = false;
    const agent = {
      // the agent beats, then would go on until its call is cancelled
      runBackup: (_r: AgentBackupRequest, o?: StreamOptions) =>
        new Promise<SnapshotManifest>((_resolve, reject) => {
          const never = setTimeout(() => reject(new Error('the call was never cancelled')), 2000);
          o?.signal?.addEventListener('abort', () => {
            clearTimeout(never);
            cancelled = true;
            reject(Object.assign(new Error('cancelled'), { code: 'AGENT_CANCELLED' }));
          });
          o?.onHeartbeat?.(1);
        }),
    } as unknown as AgentApi;
    const lost = Object.assign(new Error('run-1 was taken over'), { code: 'RUN_TAKEN_OVER' });
    const e = await ports(agent, new AbortController().signal)
      .executor.execute({ ...REQUEST, heartbeat: () => Promise.reject(lost) })
      .catch((x: unknown) => x);
    assert.ok(cancelled, 'the call was cancelled');
    assert.equal(codeOf(e), 'RUN_TAKEN_OVER');
  });

  it('refuses an attempt started before its plan was confirmed: the agent would not wait', async () => {
    const { agent, seen } = fakeAgent(manifest());
    const proceed = new Promise<never>(() => undefined);
    const e = await ports(agent, new AbortController().signal)
      .executor.execute({ ...REQUEST, proceed })
      .catch((x: unknown) => x);
    assert.equal(codeOf(e), 'INTERNAL');
    assert.equal(seen.abortedAtStart, null, 'the agent was never asked');
  });

  it("refuses an agent's manifest of another domain, host, id or level", async () => {
    const cases: [Partial<SnapshotManifest> & { uuid?: string }, RegExp][] = [
      [{ uuid: U2 }, /domain/],
      [{ host: 'b' }, /host b \(asked a\)/],
      [{ id: 's0' }, /id s0/],
      [{ level: 'incremental' }, /level incremental/],
    ];
    for (const [wrong, says] of cases) {
      const { agent } = fakeAgent(manifest(wrong));
      const e = await ports(agent, new AbortController().signal)
        .executor.execute(REQUEST)
        .catch((x: unknown) => x);
      assert.equal(codeOf(e), 'AGENT_BAD_RESULT');
      assert.match((e as Error).message, says);
    }
    const { agent } = fakeAgent(manifest());
    const ok = await ports(agent, new AbortController().signal).executor.execute(REQUEST);
    assert.equal(ok.id, 's1');
  });

  it('hands reconcile only the manifests of the domain asked for', async () => {
    const listed = [manifest({ id: 'mine' }), manifest({ id: 'theirs', uuid: U2 })];
    const { agent } = fakeAgent(manifest(), listed);
    const got = await ports(agent, new AbortController().signal).manifests.listManifests(
      'main',
      U1,
    );
    assert.deepEqual(
      got.map((m) => m.id),
      ['mine'],
    );
  });
});
