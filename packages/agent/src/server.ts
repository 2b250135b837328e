/**
 * The agent's gRPC server: mutual TLS (client certificates required and signed by the fleet CA),
 * and every call refused unless the client's certificate names the configured controller.
 * Handlers convert at the edge (wire ⇄ core) and call the {@link AgentService}.
 *
 * Errors: unary calls, and streams refused before any work started (bad request, unknown
 * repository, `AGENT_BUSY`), fail with a gRPC status and the `vv-code` trailer; a backup or
 * restore that started and failed ends its stream with a `Failure` message.
 */
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { PeerCertificate } from 'node:tls';

import {
  Server,
  ServerCredentials,
  type ServerWritableStream,
  type handleUnaryCall,
} from '@grpc/grpc-js';
import {
  agentServiceDefinition,
  backupRequestFromMsg,
  certificateIsFor,
  certificateNames,
  errorCodeOf,
  eventToMsg,
  gcResultToMsg,
  hostInfoToMsg,
  inventoryToMsg,
  manifestToMsg,
  observedToMsg,
  oneOf,
  BITMAP_REMOVALS,
  pruneRequestFromMsg,
  pruneResultToMsg,
  restoreRequestFromMsg,
  restoreResultToMsg,
  toGrpcError,
  type AgentServiceHandlers,
  type GrpcErrorObject,
} from '@virtvault/proto';

import type { AgentConfig } from './config.js';
import { AgentError } from './errors.js';
import type { AgentService, DiskProgressInfo, JobHooks } from './service.js';

/** One log line: an event name and its fields. */
export type LogFn = (event: string, fields: Record<string, unknown>) => void;

/** Keepalive: a controller that vanished is noticed within ~15 s and its backup aborted. */
const SERVER_OPTIONS = {
  'grpc.keepalive_time_ms': 10_000,
  'grpc.keepalive_timeout_ms': 5_000,
  'grpc.keepalive_permit_without_calls': 1,
} as const;

/** Progress messages per disk at most this often (the last one always goes out). */
const PROGRESS_EVERY_MS = 200;

type Stream = ServerWritableStream<unknown, unknown>;

/** What the peer check needs of any call. */
interface PeerCall {
  getAuthContext(): { sslPeerCertificate?: PeerCertificate };
  getPeer(): string;
  getPath(): string;
}

/** Sends an error status on a server stream (grpc-js turns an `error` event into the status). */
function failStream(call: Stream, e: GrpcErrorObject): void {
  call.emit('error', Object.assign(new Error(e.details), e));
}

/** The gRPC server of one agent. `start()` binds; `stop()` drains. */
export class AgentServer {
  readonly #service: AgentService;
  readonly #config: AgentConfig;
  readonly #log: LogFn;
  readonly #server = new Server(SERVER_OPTIONS);
  readonly #eventCalls = new Set<Stream>();
  #stopped: Promise<void> | null = null;

  /**
   * @param service what the handlers call
   * @param config listen address, TLS files, controller name
   * @param log one line per event
   */
  constructor(service: AgentService, config: AgentConfig, log: LogFn) {
    this.#service = service;
    this.#config = config;
    this.#log = log;
  }

  /** Reads the TLS files, checks the certificate names the host, binds; returns the port. */
  async start(): Promise<number> {
    const c = this.#config;
    const [ca, cert, key] = await Promise.all(
      [c.tls.ca, c.tls.cert, c.tls.key].map((f) =>
        readFile(f).catch((e: unknown) => {
          throw new AgentError('CONFIG_INVALID', `config: cannot read ${f}: ${String(e)}`);
        }),
      ),
    );
    if (new X509Certificate(cert as Buffer).checkHost(c.hostName) === undefined) {
      throw new AgentError(
        'CONFIG_INVALID',
        `config: tls.cert does not name hostName ${c.hostName}`,
      );
    }
    const creds = ServerCredentials.createSsl(
      ca as Buffer,
      [{ cert_chain: cert as Buffer, private_key: key as Buffer }],
      true,
    );
    this.#server.addService(agentServiceDefinition(), this.#handlers());
    const address = `${c.listenHost.includes(':') ? `[${c.listenHost}]` : c.listenHost}:${c.listenPort}`;
    const port = await new Promise<number>((resolve, reject) => {
      this.#server.bindAsync(address, creds, (err, p) =>
        err
          ? reject(new AgentError('LISTEN_FAILED', `cannot listen on ${address}: ${err.message}`))
          : resolve(p),
      );
    });
    this.#log('listening', { address: `${c.listenHost}:${port}`, host: c.hostName });
    return port;
  }

  /**
   * Stops accepting calls and ends event streams at once; resolves when running calls ended, or
   * after `graceMs` by cutting them. Idempotent.
   */
  stop(graceMs = 30_000): Promise<void> {
    this.#stopped ??= new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.#server.forceShutdown();
        resolve();
      }, graceMs);
      this.#server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
      for (const call of this.#eventCalls) {
        call.end();
      }
      this.#eventCalls.clear();
    });
    return this.#stopped;
  }

  /** The refusal for a caller whose certificate does not name the controller, or null. */
  #refusal(call: PeerCall): GrpcErrorObject | null {
    const cert = call.getAuthContext().sslPeerCertificate;
    if (certificateIsFor(cert, this.#config.controllerName)) {
      return null;
    }
    const names = certificateNames(cert).join(', ') || 'no name';
    this.#log('peer-refused', { peer: call.getPeer(), names, path: call.getPath() });
    const msg = `client certificate names ${names}, not the controller ${this.#config.controllerName}`;
    return toGrpcError(new AgentError('TLS_PEER_REFUSED', msg));
  }

  /**
   * A unary handler: `f` gets the request and a signal aborted when the caller cancels (or its
   * deadline passes), which the long ones (prune, GC) stop on.
   */
  #unary<Req, Res>(
    name: string,
    f: (req: Req, signal: AbortSignal) => Promise<Res>,
  ): handleUnaryCall<Req, Res> {
    return (call, callback) => {
      const refused = this.#refusal(call);
      if (refused !== null) {
        callback(refused);
        return;
      }
      const aborter = new AbortController();
      const onCancel = (): void =>
        aborter.abort(new AgentError('CANCELLED', 'the caller cancelled'));
      call.on('cancelled', onCancel);
      Promise.resolve()
        .then(() => f(call.request, aborter.signal))
        .then(
          (res) => {
            call.off('cancelled', onCancel);
            callback(null, res);
          },
          (e: unknown) => {
            call.off('cancelled', onCancel);
            this.#log('call-failed', { call: name, code: errorCodeOf(e), error: String(e) });
            callback(toGrpcError(e));
          },
        );
    };
  }

  #handlers(): AgentServiceHandlers {
    return {
      ...this.#queries(),
      ...this.#actions(),
      RunBackup: (call) => this.#runBackup(call),
      Restore: (call) => this.#restore(call),
      WatchEvents: (call) => this.#watchEvents(call),
    };
  }

  /** The calls that only read: the host, its domains, a repository's manifests. */
  #queries(): Pick<
    AgentServiceHandlers,
    'GetHostInfo' | 'ListDomains' | 'ObserveDomain' | 'ListManifests' | 'ListVerifyResults'
  > {
    const s = this.#service;
    return {
      GetHostInfo: this.#unary('GetHostInfo', async () => hostInfoToMsg(await s.hostInfo())),
      ListDomains: this.#unary('ListDomains', async (_r, signal) => ({
        hostName: this.#config.hostName,
        domains: (await s.listDomains(signal)).map(inventoryToMsg),
      })),
      ObserveDomain: this.#unary('ObserveDomain', async (r: { domain: string }) =>
        observedToMsg(await s.observe(r.domain)),
      ),
      ListManifests: this.#unary(
        'ListManifests',
        async (r: { repository: string; domainUuid: string }) => ({
          manifests: (await s.listManifests(r.repository, r.domainUuid)).map(manifestToMsg),
        }),
      ),
      ListVerifyResults: this.#unary(
        'ListVerifyResults',
        async (r: { repository: string; domainUuid: string }) => ({
          results: [...(await s.listVerifyResults(r.repository, r.domainUuid))].map(
            ([snapshotId, status]) => ({ snapshotId, status }),
          ),
        }),
      ),
    };
  }

  /** The calls that change a domain's checkpoints and bitmaps, or a repository. */
  #actions(): Pick<
    AgentServiceHandlers,
    'RedefineCheckpoint' | 'DeleteCheckpointMetadata' | 'RemoveBitmap' | 'Prune' | 'CollectGarbage'
  > {
    const s = this.#service;
    return {
      RedefineCheckpoint: this.#unary(
        'RedefineCheckpoint',
        async (r: { domainUuid: string; checkpoint: string; xml: string; validate: boolean }) => {
          const action = { checkpoint: r.checkpoint, xml: r.xml, validate: r.validate };
          await s.redefineCheckpoint(r.domainUuid, action);
          return {};
        },
      ),
      DeleteCheckpointMetadata: this.#unary(
        'DeleteCheckpointMetadata',
        async (r: { domainUuid: string; checkpoint: string }) => {
          await s.deleteCheckpointMetadata(r.domainUuid, r.checkpoint);
          return {};
        },
      ),
      RemoveBitmap: this.#unary(
        'RemoveBitmap',
        async (r: { domainUuid: string; disk: string; bitmap: string; via: string }) => {
          const via = oneOf('RemoveBitmapRequest.via', r.via, BITMAP_REMOVALS);
          await s.removeBitmap(r.domainUuid, r.disk, r.bitmap, via);
          return {};
        },
      ),
      Prune: this.#unary('Prune', async (r: Parameters<typeof pruneRequestFromMsg>[0], signal) =>
        pruneResultToMsg(await s.prune(pruneRequestFromMsg(r), signal)),
      ),
      CollectGarbage: this.#unary(
        'CollectGarbage',
        async (r: { repository: string; dryRun: boolean }, signal) =>
          gcResultToMsg(await s.collectGarbage(r.repository, r.dryRun, signal)),
      ),
    };
  }

  /**
   * Hooks that stream progress (per disk at most every 200 ms; `flush()` sends the last values)
   * and heartbeats, cancelled with the call.
   */
  #hooks(call: Stream): JobHooks & { dispose(): void; flush(): void } {
    const aborter = new AbortController();
    const onCancel = (): void => aborter.abort(new AgentError('CANCELLED', 'the caller cancelled'));
    call.on('cancelled', onCancel);
    const sentAt = new Map<string, number>();
    const unsent = new Map<string, DiskProgressInfo>();
    const onProgress = (p: DiskProgressInfo): void => {
      const now = Date.now();
      if (now - (sentAt.get(p.target) ?? 0) >= PROGRESS_EVERY_MS) {
        sentAt.set(p.target, now);
        unsent.delete(p.target);
        call.write({ progress: { ...p } });
      } else {
        // the engine reuses its progress object: keep a copy
        unsent.set(p.target, { ...p });
      }
    };
    return {
      signal: aborter.signal,
      onProgress,
      onHeartbeat: (atMs) => call.write({ heartbeat: { atMs } }),
      flush: () => {
        for (const p of unsent.values()) {
          call.write({ progress: p });
        }
        unsent.clear();
      },
      dispose: () => call.off('cancelled', onCancel),
    };
  }

  /** Runs a started job to its single result or `Failure` message. */
  #finish<T>(
    call: Stream,
    name: string,
    job: Promise<T>,
    hooks: { flush(): void },
    result: (r: T) => object,
  ): void {
    job.then(
      (r) => {
        hooks.flush();
        call.write(result(r));
        call.end();
      },
      (e: unknown) => {
        const code = errorCodeOf(e);
        this.#log(`${name}-failed`, { code, error: String(e), cancelled: call.cancelled });
        if (!call.cancelled) {
          call.write({ failure: { code, message: e instanceof Error ? e.message : String(e) } });
          call.end();
        }
      },
    );
  }

  /** A stream's request, converted; null when refused (peer or message), the call failed. */
  #accept<T>(call: Stream, convert: (msg: never) => T): T | null {
    const refused = this.#refusal(call);
    if (refused !== null) {
      failStream(call, refused);
      return null;
    }
    try {
      return convert(call.request as never);
    } catch (e) {
      failStream(call, toGrpcError(e));
      return null;
    }
  }

  #runBackup(call: Stream): void {
    const req = this.#accept(call, backupRequestFromMsg);
    if (req === null) {
      return;
    }
    try {
      // refusals before any work (busy, unknown repository) are statuses, like a unary call's
      this.#service.admitBackup(req);
    } catch (e) {
      failStream(call, toGrpcError(e));
      return;
    }
    const hooks = this.#hooks(call);
    const fields = { run: req.runId, domain: req.observed.domain.name, level: req.level };
    this.#log('backup-started', { ...fields, snapshot: req.snapshotId });
    const job = this.#service.runBackup(req, hooks).finally(() => hooks.dispose());
    this.#finish(call, 'backup', job, hooks, (m) => {
      this.#log('backup-done', { ...fields, snapshot: m.id });
      return { result: { manifest: manifestToMsg(m) } };
    });
  }

  #restore(call: Stream): void {
    const req = this.#accept(call, restoreRequestFromMsg);
    if (req === null) {
      return;
    }
    const hooks = this.#hooks(call);
    this.#log('restore-started', { domain: req.domainUuid, snapshot: req.snapshotId });
    const job = this.#service.restore(req, hooks).finally(() => hooks.dispose());
    this.#finish(call, 'restore', job, hooks, (r) => ({ result: restoreResultToMsg(r) }));
  }

  #watchEvents(call: Stream): void {
    const refused = this.#refusal(call);
    if (refused !== null) {
      failStream(call, refused);
      return;
    }
    this.#eventCalls.add(call);
    const unsubscribe = this.#service.watchEvents((e) => call.write(eventToMsg(e)));
    call.on('cancelled', () => {
      unsubscribe();
      this.#eventCalls.delete(call);
    });
  }
}
