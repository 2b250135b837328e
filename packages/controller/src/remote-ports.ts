/**
 * Core's `runBackup` ports over an agent: the hypervisor and the manifest source are unary agent
 * calls with deadlines, the executor is the agent's RunBackup stream (progress to the job, agent
 * heartbeats to the lineage). The lineage store is wrapped to tag each run with who asked for it.
 */
import type {
  BackupExecutor,
  BackupRequest,
  CheckpointStateUpdate,
  Clock,
  DomainLineage,
  Hypervisor,
  IdGenerator,
  LineageEvent,
  LineageStore,
  ManifestSource,
  ObservedDomain,
  ReconcileResult,
  RunBackupDeps,
  RunFailure,
  RunStart,
  SnapshotCommit,
  SnapshotManifest,
  VerifyState,
} from '@virtvault/core';
import { hasErrorCode } from '@virtvault/core';
import type { FleetStore, RunTag } from '@virtvault/lineage';
import type { AgentApi } from '@virtvault/proto';

import { ControllerError } from './errors.js';

/** A lineage store that tags the run it begins and remembers its id. */
export class TaggedLineage implements LineageStore {
  /** Id of the run begun through this store, once begun. */
  runId: string | null = null;

  /**
   * @param inner the lineage
   * @param fleet where tags go
   * @param tag who asked for the run
   */
  constructor(
    private readonly inner: LineageStore,
    private readonly fleet: FleetStore,
    private readonly tag: RunTag,
  ) {}

  /** {@inheritDoc LineageStore.beginRun} */
  async beginRun(run: RunStart, staleAfterMs: number): Promise<string[]> {
    const abandoned = await this.inner.beginRun(run, staleAfterMs);
    this.runId = run.id;
    await this.fleet.tagRun(run.id, this.tag);
    return abandoned;
  }
  /** {@inheritDoc LineageStore.heartbeat} */
  heartbeat(runId: string, at: number): Promise<boolean> {
    return this.inner.heartbeat(runId, at);
  }
  /** {@inheritDoc LineageStore.noteCheckpoint} */
  noteCheckpoint(runId: string, checkpoint: string): Promise<void> {
    return this.inner.noteCheckpoint(runId, checkpoint);
  }
  /** {@inheritDoc LineageStore.reconcile} */
  reconcile(
    repository: string,
    domainUuid: string,
    manifests: readonly SnapshotManifest[],
    at: number,
  ): Promise<ReconcileResult> {
    return this.inner.reconcile(repository, domainUuid, manifests, at);
  }
  /** {@inheritDoc LineageStore.loadLineage} */
  loadLineage(repository: string, domain: { uuid: string; name: string }): Promise<DomainLineage> {
    return this.inner.loadLineage(repository, domain);
  }
  /** {@inheritDoc LineageStore.markCheckpoints} */
  markCheckpoints(d: string, u: readonly CheckpointStateUpdate[], at: number): Promise<void> {
    return this.inner.markCheckpoints(d, u, at);
  }
  /** {@inheritDoc LineageStore.commitSnapshot} */
  commitSnapshot(c: SnapshotCommit): Promise<void> {
    return this.inner.commitSnapshot(c);
  }
  /** {@inheritDoc LineageStore.failRun} */
  failRun(runId: string, f: RunFailure): Promise<void> {
    return this.inner.failRun(runId, f);
  }
  /** {@inheritDoc LineageStore.recordEvent} */
  recordEvent(e: LineageEvent): Promise<void> {
    return this.inner.recordEvent(e);
  }
}

/** What the remote ports of one job need. */
export interface RemotePortsOptions {
  /** The host's agent. */
  agent: AgentApi;
  /** The tagged lineage of this job. */
  lineage: TaggedLineage;
  /** Aborted when the job's lock is lost or the replica stops. */
  signal: AbortSignal;
  /** Deadline of unary calls. */
  callTimeoutMs: number;
  /** A stream silent (no progress, no heartbeat) this long is cancelled as `AGENT_TIMEOUT`. */
  streamSilenceMs: number;
  /** The observation made before the run (handed out by the first `observe`). */
  prefetched: ObservedDomain;
  /** Progress of the stream. */
  onProgress: (p: { target: string; bytesRead: number; bytesToRead: number }) => void;
  /** Time. */
  clock: Clock;
  /** Ids. */
  ids: IdGenerator;
}

function hypervisor(o: RemotePortsOptions): Hypervisor {
  const call = () => ({ signal: o.signal, deadlineMs: o.callTimeoutMs });
  let prefetched: ObservedDomain | null = o.prefetched;
  return {
    observe: (domain) => {
      const p = prefetched;
      prefetched = null;
      return p !== null ? Promise.resolve(p) : o.agent.observe(domain, call());
    },
    redefineCheckpoint: (uuid, action) => o.agent.redefineCheckpoint(uuid, action, call()),
    deleteCheckpointMetadata: (uuid, cp) => o.agent.deleteCheckpointMetadata(uuid, cp, call()),
    removeBitmap: (uuid, disk, bitmap, via) =>
      o.agent.removeBitmap(uuid, disk, bitmap, via, call()),
  };
}

/**
 * The agent's manifest, once it is the one asked for: the lineage records it under its own
 * domain, host and id, so an agent answering with another domain's or host's snapshot (a bug, or
 * a compromised host writing into another's history) must not get that far.
 */
function answersRequest(req: BackupRequest, m: SnapshotManifest): SnapshotManifest {
  const want = {
    id: req.snapshotId,
    domain: req.observed.domain.uuid,
    host: req.observed.host,
    level: req.level,
  };
  const got = { id: m.id, domain: m.domain.uuid, host: m.host, level: m.level };
  const wrong = (Object.keys(want) as (keyof typeof want)[]).filter((k) => want[k] !== got[k]);
  if (wrong.length > 0) {
    const what = wrong.map((k) => `${k} ${got[k]} (asked ${want[k]})`).join(', ');
    throw new ControllerError('AGENT_BAD_RESULT', `the agent's manifest does not match: ${what}`, {
      retryable: false,
    });
  }
  return m;
}

/** Runs the agent's backup stream, cancelling it when the job ends or the agent goes silent. */
async function streamBackup(o: RemotePortsOptions, req: BackupRequest): Promise<SnapshotManifest> {
  const runId = o.lineage.runId;
  if (runId === null) {
    throw new ControllerError('INTERNAL', 'backup executed before the run began');
  }
  const ac = new AbortController();
  const onJobAbort = () => ac.abort(o.signal.reason);
  o.signal.addEventListener('abort', onJobAbort, { once: true });
  if (o.signal.aborted) {
    // aborted before now (during the run's database steps): the listener never fires
    onJobAbort();
  }
  let silent = false;
  const takenOver: { by?: Error } = {};
  let timer: NodeJS.Timeout | undefined;
  const alive = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      silent = true;
      ac.abort(new Error('agent silent'));
    }, o.streamSilenceMs);
  };
  alive();
  try {
    // the heartbeat travels back on the stream instead
    const { heartbeat, proceed, ...request } = req;
    if (proceed !== undefined) {
      // the agent would commit without waiting for the plan's confirmation (no plan hints here)
      const msg = 'an attempt started before its plan was confirmed cannot run on an agent';
      throw new ControllerError('INTERNAL', msg, { retryable: false });
    }
    const manifest = await o.agent.runBackup(
      { ...request, runId },
      {
        signal: ac.signal,
        onProgress: (p) => {
          alive();
          o.onProgress(p);
        },
        onHeartbeat: () => {
          alive();
          req.heartbeat().catch((e: unknown) => {
            // another run has the domain now: cancelling the call stops the agent's attempt
            if (hasErrorCode(e, 'RUN_TAKEN_OVER')) {
              takenOver.by = e as Error;
              ac.abort(e);
            }
          });
        },
      },
    );
    return answersRequest(req, manifest);
  } catch (e) {
    if (takenOver.by !== undefined) {
      throw takenOver.by;
    }
    if (silent) {
      const msg = `agent sent nothing for ${o.streamSilenceMs} ms; backup cancelled`;
      throw new ControllerError('AGENT_TIMEOUT', msg, { cause: e });
    }
    throw e;
  } finally {
    clearTimeout(timer);
    o.signal.removeEventListener('abort', onJobAbort);
  }
}

/** The ports of one backup job. */
export function remotePorts(o: RemotePortsOptions): RunBackupDeps {
  const executor: BackupExecutor = { execute: (req) => streamBackup(o, req) };
  const call = { signal: o.signal, deadlineMs: o.callTimeoutMs };
  const manifests: ManifestSource = {
    // only the domain's own: reconcile imports what it is given into that domain's lineage
    listManifests: async (repo, uuid) =>
      (await o.agent.listManifests(repo, uuid, call)).filter((m) => m.domain.uuid === uuid),
    // an agent older than the method: the lineage's own verify state, as before
    verifyResults: (repo, uuid) =>
      o.agent.listVerifyResults(repo, uuid, call).catch((e: unknown) => {
        if (hasErrorCode(e, 'AGENT_UNIMPLEMENTED')) {
          return new Map<string, VerifyState>();
        }
        throw e;
      }),
  };
  return {
    hypervisor: hypervisor(o),
    executor,
    lineage: o.lineage,
    manifests,
    clock: o.clock,
    ids: o.ids,
  };
}
