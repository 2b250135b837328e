/**
 * `AgentClient`: the agent API over gRPC with mutual TLS, in core types. The controller holds one
 * per agent. grpc-js connects lazily and reconnects by itself; keepalive pings notice a dead agent
 * within ~15 s, so no call hangs on a host that went away.
 */
import {
  credentials,
  Metadata,
  type CallOptions as GrpcCallOptions,
  type ClientReadableStream,
  type ClientUnaryCall,
  type ServiceError,
} from '@grpc/grpc-js';
import type { PeerCertificate } from 'node:tls';

import type {
  AgentEventInfo,
  BitmapRemoval,
  HostInfo,
  InventoryDomain,
  ObservedDomain,
  RedefineAction,
  SnapshotManifest,
  VerifyState,
} from '@virtvault/core';

import type {
  AgentApi,
  AgentBackupRequest,
  AgentClientOptions,
  AgentGcResult,
  AgentPruneRequest,
  AgentPruneResult,
  AgentRestoreRequest,
  AgentRestoreResult,
  CallOptions,
  StreamOptions,
} from './agent-api.js';
import { eventFromMsg, hostInfoFromMsg, inventoryFromMsg } from './convert/fleet.js';
import { manifestFromMsg } from './convert/manifest.js';
import { observedFromMsg } from './convert/observed.js';
import {
  backupRequestToMsg,
  gcResultFromMsg,
  pruneRequestToMsg,
  pruneResultFromMsg,
  restoreRequestToMsg,
  restoreResultFromMsg,
} from './convert/requests.js';
import { ProtoError, required } from './errors.js';
import type { AgentEvent__Output } from './generated/virtvault/agent/v1/AgentEvent.js';
import type { AgentServiceClient } from './generated/virtvault/agent/v1/AgentService.js';
import type { DiskProgress__Output } from './generated/virtvault/agent/v1/DiskProgress.js';
import type { Failure__Output } from './generated/virtvault/agent/v1/Failure.js';
import type { CollectGarbageResponse__Output as GcOut } from './generated/virtvault/agent/v1/CollectGarbageResponse.js';
import type { HostInfo__Output as HostInfoOut } from './generated/virtvault/agent/v1/HostInfo.js';
import type { ListDomainsResponse__Output as DomainsOut } from './generated/virtvault/agent/v1/ListDomainsResponse.js';
import type { ListManifestsResponse__Output as ManifestsOut } from './generated/virtvault/agent/v1/ListManifestsResponse.js';
import type { ListVerifyResultsResponse__Output as VerifyOut } from './generated/virtvault/agent/v1/ListVerifyResultsResponse.js';
import type { ObservedDomain__Output as ObservedOut } from './generated/virtvault/agent/v1/ObservedDomain.js';
import type { PruneResponse__Output as PruneOut } from './generated/virtvault/agent/v1/PruneResponse.js';
import { loadAgentPackage } from './loader.js';
import { fromGrpcError } from './status-map.js';
import { certificateIsFor, certificateNames } from './tls-names.js';

type Callback<T> = (err: ServiceError | null, res?: T) => void;
type UnaryStart<T> = (md: Metadata, opts: GrpcCallOptions, cb: Callback<T>) => ClientUnaryCall;

/** The oneof-carrying updates of RunBackup and Restore, as far as the client reads them. */
interface StreamUpdate<R> {
  update?: string;
  progress?: DiskProgress__Output | null;
  heartbeat?: { atMs: number } | null;
  result?: R | null;
  failure?: Failure__Output | null;
}

/** Keepalive: ping every 10 s, give up after 5 s without an answer (dead agent in ~15 s). */
const KEEPALIVE = {
  'grpc.keepalive_time_ms': 10_000,
  'grpc.keepalive_timeout_ms': 5_000,
  'grpc.keepalive_permit_without_calls': 1,
} as const;

/**
 * The largest reply the client takes. grpc-js's default of 4 MiB failed ListManifests for a domain
 * with a few hundred snapshots (each manifest carries its domain and checkpoint XML, 10-20 KB),
 * and with it every backup of that domain. The agent's send side has no limit.
 */
const MAX_RECEIVE_BYTES = 256 * 1024 * 1024;

function grpcOptions(o: CallOptions | undefined): GrpcCallOptions {
  return o?.deadlineMs !== undefined ? { deadline: Date.now() + o.deadlineMs } : {};
}

/** The verify outcomes a repository records (a snapshot without one is unverified). */
const RECORDED_VERIFY = ['ok', 'failed'] as const;

function isRecordedVerify(s: string): s is (typeof RECORDED_VERIFY)[number] {
  return (RECORDED_VERIFY as readonly string[]).includes(s);
}

function cancelled(): ProtoError {
  return new ProtoError('AGENT_CANCELLED', 'cancelled before the call started');
}

/** The gRPC implementation of {@link AgentApi}. */
export class AgentClient implements AgentApi {
  readonly #client: AgentServiceClient;
  readonly #expected: string;

  /** @param o address, expected host name and the controller's credentials */
  constructor(o: AgentClientOptions) {
    this.#expected = o.expectedHostName;
    const verify = {
      // grpc-js calls this with the override name; we check the name we expect, SAN DNS else CN
      checkServerIdentity: (_host: string, cert: PeerCertificate): Error | undefined =>
        this.#checkIdentity(cert),
    };
    const creds = credentials.createSsl(o.ca, o.key, o.cert, verify);
    const Ctor = loadAgentPackage().virtvault.agent.v1.AgentService;
    this.#client = new Ctor(o.address, creds, {
      // dial the address, but present and check the host's name (SNI, :authority, identity)
      'grpc.ssl_target_name_override': o.expectedHostName,
      'grpc.default_authority': o.expectedHostName,
      'grpc.max_receive_message_length': MAX_RECEIVE_BYTES,
      ...KEEPALIVE,
    });
  }

  #checkIdentity(cert: PeerCertificate): Error | undefined {
    if (certificateIsFor(cert, this.#expected)) {
      return undefined;
    }
    return new Error(
      `TLS identity refused: the agent's certificate names ${certificateNames(cert).join(', ') || 'nothing'}, ` +
        `not ${this.#expected}`,
    );
  }

  /** Runs one unary call with the signal and deadline of `o`. */
  #unary<T>(o: CallOptions | undefined, start: UnaryStart<T>): Promise<T> {
    const signal = o?.signal;
    if (signal?.aborted) {
      return Promise.reject(cancelled());
    }
    return new Promise<T>((resolve, reject) => {
      const call = start(new Metadata(), grpcOptions(o), (err, res) => {
        signal?.removeEventListener('abort', onAbort);
        if (err) {
          reject(fromGrpcError(err, signal?.aborted === true));
        } else {
          resolve(required('response', res));
        }
      });
      const onAbort = (): void => call.cancel();
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Reads a RunBackup/Restore stream to its single result. */
  #stream<R, T>(
    o: StreamOptions | undefined,
    start: (md: Metadata, opts: GrpcCallOptions) => ClientReadableStream<StreamUpdate<R>>,
    convert: (r: R) => T,
  ): Promise<T> {
    const signal = o?.signal;
    if (signal?.aborted) {
      return Promise.reject(cancelled());
    }
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const settle = (f: () => void): void => {
        if (!settled) {
          settled = true;
          signal?.removeEventListener('abort', onAbort);
          f();
        }
      };
      const call = start(new Metadata(), grpcOptions(o));
      const onAbort = (): void => call.cancel();
      signal?.addEventListener('abort', onAbort, { once: true });
      call.on('data', (u: StreamUpdate<R>) => {
        try {
          this.#onUpdate(u, o, (r) => {
            // converted before settling: a result this build cannot read must reject the call,
            // not leave it settled with nothing ever resolved
            const v = convert(r);
            settle(() => resolve(v));
          });
        } catch (e) {
          settle(() => reject(fromGrpcError(e, false)));
        }
      });
      call.on('error', (e) => settle(() => reject(fromGrpcError(e, signal?.aborted === true))));
      call.on('end', () =>
        settle(() => reject(new ProtoError('BAD_MESSAGE', 'the stream ended without a result'))),
      );
    });
  }

  #onUpdate<R>(u: StreamUpdate<R>, o: StreamOptions | undefined, done: (r: R) => void): void {
    switch (u.update) {
      case 'progress': {
        const p = required('progress', u.progress);
        o?.onProgress?.({ target: p.target, bytesRead: p.bytesRead, bytesToRead: p.bytesToRead });
        return;
      }
      case 'heartbeat':
        o?.onHeartbeat?.(required('heartbeat', u.heartbeat).atMs);
        return;
      case 'result':
        done(required('result', u.result));
        return;
      case 'failure': {
        const f = required('failure', u.failure);
        throw new ProtoError(f.code || 'AGENT_ERROR', f.message);
      }
      default:
        throw new ProtoError('BAD_MESSAGE', `unknown stream update "${u.update ?? ''}"`);
    }
  }

  /** Who and what the agent is. */
  async hostInfo(o?: CallOptions): Promise<HostInfo> {
    const m = await this.#unary<HostInfoOut>(o, (md, opts, cb) =>
      this.#client.getHostInfo({}, md, opts, cb),
    );
    return hostInfoFromMsg(m);
  }

  /** Every domain of the host. */
  async listDomains(o?: CallOptions): Promise<InventoryDomain[]> {
    const m = await this.#unary<DomainsOut>(o, (md, opts, cb) =>
      this.#client.listDomains({}, md, opts, cb),
    );
    return m.domains.map(inventoryFromMsg);
  }

  /** The planner's view of one domain (name or UUID). */
  async observe(domain: string, o?: CallOptions): Promise<ObservedDomain> {
    const m = await this.#unary<ObservedOut>(o, (md, opts, cb) =>
      this.#client.observeDomain({ domain }, md, opts, cb),
    );
    return observedFromMsg(m);
  }

  /** Committed manifests of one domain in one repository. */
  async listManifests(
    repository: string,
    domainUuid: string,
    o?: CallOptions,
  ): Promise<SnapshotManifest[]> {
    const m = await this.#unary<ManifestsOut>(o, (md, opts, cb) =>
      this.#client.listManifests({ repository, domainUuid }, md, opts, cb),
    );
    return m.manifests.map((x) => manifestFromMsg(x));
  }

  /** Verify results recorded for one domain's snapshots in one repository. */
  async listVerifyResults(
    repository: string,
    domainUuid: string,
    o?: CallOptions,
  ): Promise<Map<string, VerifyState>> {
    const m = await this.#unary<VerifyOut>(o, (md, opts, cb) =>
      this.#client.listVerifyResults({ repository, domainUuid }, md, opts, cb),
    );
    const out = new Map<string, VerifyState>();
    for (const r of m.results) {
      // a status of a newer writer: that snapshot counts as not verified, the others still do
      if (isRecordedVerify(r.status)) {
        out.set(r.snapshotId, r.status);
      }
    }
    return out;
  }

  /** Redefines one checkpoint. */
  async redefineCheckpoint(
    domainUuid: string,
    action: RedefineAction,
    o?: CallOptions,
  ): Promise<void> {
    const req = { domainUuid, checkpoint: action.checkpoint, xml: action.xml };
    await this.#unary(o, (md, opts, cb) =>
      this.#client.redefineCheckpoint({ ...req, validate: action.validate }, md, opts, cb),
    );
  }

  /** Deletes libvirt's metadata of one checkpoint. */
  async deleteCheckpointMetadata(
    domainUuid: string,
    checkpoint: string,
    o?: CallOptions,
  ): Promise<void> {
    await this.#unary(o, (md, opts, cb) =>
      this.#client.deleteCheckpointMetadata({ domainUuid, checkpoint }, md, opts, cb),
    );
  }

  /** Removes one bitmap from one disk. */
  async removeBitmap(
    domainUuid: string,
    disk: string,
    bitmap: string,
    via: BitmapRemoval,
    o?: CallOptions,
  ): Promise<void> {
    await this.#unary(o, (md, opts, cb) =>
      this.#client.removeBitmap({ domainUuid, disk, bitmap, via }, md, opts, cb),
    );
  }

  /** Runs one backup; resolves with the committed manifest. Aborting cancels; the agent cleans up. */
  runBackup(req: AgentBackupRequest, o?: StreamOptions): Promise<SnapshotManifest> {
    const msg = backupRequestToMsg(req);
    return this.#stream(
      o,
      (md, opts) => this.#client.runBackup(msg, md, opts),
      (r) => manifestFromMsg(required('BackupResult.manifest', r.manifest)),
    );
  }

  /** Restores one snapshot on the agent's host. */
  restore(req: AgentRestoreRequest, o?: StreamOptions): Promise<AgentRestoreResult> {
    const msg = restoreRequestToMsg(req);
    return this.#stream(
      o,
      (md, opts) => this.#client.restore(msg, md, opts),
      (r) => restoreResultFromMsg(r),
    );
  }

  /** Applies retention. */
  async prune(req: AgentPruneRequest, o?: CallOptions): Promise<AgentPruneResult> {
    const msg = pruneRequestToMsg(req);
    const m = await this.#unary<PruneOut>(o, (md, opts, cb) =>
      this.#client.prune(msg, md, opts, cb),
    );
    return pruneResultFromMsg(m);
  }

  /** Collects garbage in one repository. */
  async collectGarbage(
    repository: string,
    dryRun: boolean,
    o?: CallOptions,
  ): Promise<AgentGcResult> {
    const m = await this.#unary<GcOut>(o, (md, opts, cb) =>
      this.#client.collectGarbage({ repository, dryRun }, md, opts, cb),
    );
    return gcResultFromMsg(m);
  }

  /** Events until the signal aborts; throws `AGENT_UNAVAILABLE` when the connection drops. */
  async *watchEvents(signal: AbortSignal): AsyncIterable<AgentEventInfo> {
    if (signal.aborted) {
      return;
    }
    const call = this.#client.watchEvents({}, new Metadata(), {});
    const onAbort = (): void => call.cancel();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      for await (const m of call as AsyncIterable<AgentEvent__Output>) {
        yield eventFromMsg(m);
      }
      if (!signal.aborted) {
        throw new ProtoError('AGENT_UNAVAILABLE', 'the agent ended the event stream');
      }
    } catch (e) {
      if (signal.aborted && !(e instanceof ProtoError)) {
        return;
      }
      throw fromGrpcError(e, false);
    } finally {
      signal.removeEventListener('abort', onAbort);
      call.cancel();
    }
  }

  /** Closes the channel; calls in flight fail with `AGENT_UNAVAILABLE`. */
  close(): void {
    this.#client.close();
  }
}
