/**
 * `AgentService`: what the agent does, in core types, with no gRPC in sight. It owns the libvirt
 * connection (reconnected when libvirtd restarts), the repositories, and the running backups,
 * which `close()` aborts so that their clean-up runs (job ended, checkpoint and partial snapshot
 * removed) before the connection closes.
 */
import { execFile } from 'node:child_process';
import { setMaxListeners } from 'node:events';
import { cpus, totalmem } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

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
import {
  assertDomainNameFree,
  connectLibvirt,
  defineRestoredDomain,
  Executor,
  LibvirtHypervisor,
  restoreSnapshot,
} from '@virtvault/engine';
import type { Connection, LibvirtEvent } from '@virtvault/libvirt';
import type {
  AgentBackupRequest,
  AgentGcResult,
  AgentPruneRequest,
  AgentPruneResult,
  AgentRestoreRequest,
  AgentRestoreResult,
} from '@virtvault/proto';

import type { AgentConfig } from './config.js';
import { cancelledError, interruptedError, linkedAbort } from './abort.js';
import { AgentError, translateError } from './errors.js';
import { toAgentEvent } from './events.js';
import { listInventory } from './inventory.js';
import { RepositorySet } from './repositories.js';
import { restoredDisk, restoreProgress } from './restore-reply.js';
import { assertUnderRestoreRoots } from './restore-roots.js';
import { assertBackupNames, assertOwnName, assertRedefinable } from './wire-names.js';

/** Progress of one disk of a backup or restore. */
export interface DiskProgressInfo {
  /** Disk target. */
  target: string;
  /** Bytes read (backup) or written (restore) so far. */
  bytesRead: number;
  /** Bytes to read (backup) or the virtual size (restore). */
  bytesToRead: number;
}

/** What a running backup or restore reports back, and how it is cancelled. */
export interface JobHooks {
  /** The caller went away or cancelled. */
  signal: AbortSignal;
  /** Per-disk progress. */
  onProgress: (p: DiskProgressInfo) => void;
  /** The run is alive (epoch ms). */
  onHeartbeat?: (atMs: number) => void;
}

/** Options of the {@link AgentService}. */
export interface AgentServiceOptions {
  /** The validated configuration. */
  config: AgentConfig;
  /** virtvault version (host info, manifests). */
  version: string;
  /** Wall clock, epoch ms. */
  now: () => number;
  /** How often a running backup sends a heartbeat. @default 5000 */
  heartbeatMs?: number;
  /** One log line: an event name and its fields (a domain the inventory could not observe). */
  log?: (event: string, fields: Record<string, unknown>) => void;
}

const run = promisify(execFile);

async function hypervisorVersion(): Promise<string> {
  const r = await run('qemu-system-x86_64', ['--version']).catch(() => ({ stdout: '' }));
  return /version (\d+\.\d+\.\d+)/.exec(r.stdout)?.[1] ?? '';
}

/** The agent's operations over libvirt, the engine and the repositories. */
export class AgentService {
  readonly #o: AgentServiceOptions;
  readonly #repos: RepositorySet;
  readonly #listeners = new Set<(e: AgentEventInfo) => void>();
  readonly #running = new Set<Promise<unknown>>();
  /** Restores under way (not counted against maxConcurrentBackups; awaited by close). */
  readonly #restores = new Set<Promise<unknown>>();
  /** Running prunes and GCs. */
  readonly #maintenance = new Set<Promise<unknown>>();
  readonly #stopping = new AbortController();
  #conn: Connection | null = null;
  #connecting: Promise<Connection> | null = null;
  #hvVersion = '';
  readonly #startedAt: number;

  /** @param o configuration, version and clock */
  constructor(o: AgentServiceOptions) {
    this.#o = o;
    this.#repos = new RepositorySet(o.config.repositories);
    this.#startedAt = o.now();
    // every NBD request of every backup listens to it
    setMaxListeners(0, this.#stopping.signal);
  }

  /** Connects to libvirt (fails fast when libvirtd is not there). */
  async connect(): Promise<void> {
    await this.#connection();
    this.#hvVersion = await hypervisorVersion();
  }

  /** The live connection, reconnecting once libvirtd closed the previous one. */
  async #connection(): Promise<Connection> {
    if (this.#stopping.signal.aborted) {
      throw new AgentError('AGENT_SHUTTING_DOWN', 'the agent is shutting down');
    }
    if (this.#conn !== null && !this.#conn.closed) {
      return this.#conn;
    }
    const lost = this.#conn;
    // one reconnect for every caller: the lost connection's native state (its event callbacks,
    // the handle libvirt keeps) is released only by close(); dropped, each libvirtd restart
    // leaked one
    this.#connecting ??= (async () => {
      await lost?.close().catch(() => undefined);
      return connectLibvirt(this.#o.config.libvirtUri);
    })()
      .then((c) => {
        c.subscribe((e) => this.#dispatch(e));
        this.#conn = c;
        return c;
      })
      .finally(() => {
        this.#connecting = null;
      });
    return this.#connecting;
  }

  async #hypervisor(): Promise<LibvirtHypervisor> {
    return new LibvirtHypervisor(await this.#connection(), this.#o.config.hostName, {
      scratchDir: this.#o.config.scratchDir,
    });
  }

  #dispatch(e: LibvirtEvent): void {
    const ev = toAgentEvent(e, this.#o.config.hostName, this.#o.now());
    if (ev !== null) {
      for (const l of this.#listeners) {
        l(ev);
      }
    }
  }

  /** Subscribes to the host's events; returns the unsubscribe function. */
  watchEvents(listener: (e: AgentEventInfo) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Backups running now. */
  get runningBackups(): number {
    return this.#running.size;
  }

  /** Who and what this agent is. */
  async hostInfo(): Promise<HostInfo> {
    const conn = await this.#connection();
    const c = this.#o.config;
    return {
      hostName: c.hostName,
      agentVersion: this.#o.version,
      libvirtVersion: await conn.libVersion(),
      hypervisorVersion: this.#hvVersion,
      libvirtUri: c.libvirtUri,
      repositories: this.#repos.names,
      maxConcurrentBackups: c.maxConcurrentBackups,
      runningBackups: this.#running.size,
      cpus: cpus().length,
      memoryBytes: totalmem(),
      startedAtMs: this.#startedAt,
    };
  }

  /**
   * Every domain of the host with disks, checkpoints and tags (see {@link listInventory}); aborting
   * `signal` (the caller went away) stops between domains.
   */
  async listDomains(signal?: AbortSignal): Promise<InventoryDomain[]> {
    const conn = await this.#connection();
    const log = this.#o.log ?? (() => undefined);
    return listInventory(conn, this.#o.config.hostName, { log, ...(signal ? { signal } : {}) });
  }

  /** The planner's view of one domain (name or UUID). */
  async observe(domain: string): Promise<ObservedDomain> {
    return guard(async () => (await this.#hypervisor()).observe(domain));
  }

  /** Committed manifests of one domain in a configured repository, oldest first. */
  listManifests(repository: string, domainUuid: string): Promise<SnapshotManifest[]> {
    return this.#repos.listManifests(repository, domainUuid);
  }

  /** Verify results recorded in a configured repository for one domain's snapshots, by id. */
  listVerifyResults(repository: string, domainUuid: string): Promise<Map<string, VerifyState>> {
    return this.#repos.verifyResults(repository, domainUuid);
  }

  /** Redefines one checkpoint from the lineage's XML (`BAD_REQUEST` unless it is ours, by name). */
  async redefineCheckpoint(domainUuid: string, action: RedefineAction): Promise<void> {
    assertRedefinable(action);
    await guard(async () => (await this.#hypervisor()).redefineCheckpoint(domainUuid, action));
  }

  /** Deletes libvirt's metadata of one checkpoint (`BAD_REQUEST` for a name not ours). */
  async deleteCheckpointMetadata(domainUuid: string, checkpoint: string): Promise<void> {
    assertOwnName('checkpoint', checkpoint);
    await guard(async () =>
      (await this.#hypervisor()).deleteCheckpointMetadata(domainUuid, checkpoint),
    );
  }

  /** Removes one bitmap from one disk (`BAD_REQUEST` for a name not ours). */
  async removeBitmap(
    domainUuid: string,
    disk: string,
    bitmap: string,
    via: BitmapRemoval,
  ): Promise<void> {
    assertOwnName('bitmap', bitmap);
    await guard(async () => (await this.#hypervisor()).removeBitmap(domainUuid, disk, bitmap, via));
  }

  /**
   * Throws unless a backup of `req` may start now: `AGENT_BUSY` beyond `maxConcurrentBackups`,
   * `WRONG_HOST` for a plan observed elsewhere, `BAD_REQUEST` for a checkpoint name not ours,
   * `REPOSITORY_UNKNOWN`, `AGENT_SHUTTING_DOWN`.
   */
  admitBackup(req: AgentBackupRequest): void {
    const c = this.#o.config;
    if (this.#stopping.signal.aborted) {
      throw new AgentError('AGENT_SHUTTING_DOWN', 'the agent is shutting down');
    }
    if (this.#running.size >= c.maxConcurrentBackups) {
      const msg = `${this.#running.size} backups are running (maxConcurrentBackups ${c.maxConcurrentBackups})`;
      throw new AgentError('AGENT_BUSY', msg);
    }
    if (req.observed.host !== c.hostName) {
      const msg = `the plan observed ${req.observed.domain.name} on ${req.observed.host}, this is ${c.hostName}`;
      throw new AgentError('WRONG_HOST', msg);
    }
    assertBackupNames(req);
    this.#repos.config(req.repository);
  }

  /**
   * Runs one backup (after {@link admitBackup}'s checks). Aborting `hooks.signal` (or closing
   * the service) cancels it; the engine cleans up before this rejects.
   */
  async runBackup(req: AgentBackupRequest, hooks: JobHooks): Promise<SnapshotManifest> {
    this.admitBackup(req);
    const p = this.#executeBackup(req, hooks);
    this.#running.add(p);
    try {
      return await p;
    } finally {
      this.#running.delete(p);
    }
  }

  async #executeBackup(req: AgentBackupRequest, hooks: JobHooks): Promise<SnapshotManifest> {
    // before the aborter: a failed libvirt connect must not leave it listening on #stopping
    const hypervisor = await this.#hypervisor();
    const aborter = linkedAbort(hooks.signal, this.#stopping.signal);
    const executor = new Executor({
      hypervisor,
      openRepository: (name) => this.#repos.get(name),
      scratchDir: this.#o.config.scratchDir,
      toolVersion: this.#o.version,
      now: this.#o.now,
      onProgress: (p) => hooks.onProgress(p),
      signal: aborter.signal,
      heartbeatMs: this.#o.heartbeatMs ?? 5_000,
    });
    try {
      // the run id is the controller's; the engine's request has no place for it
      const { runId, ...request } = req;
      return await executor.execute({
        ...request,
        heartbeat: () => Promise.resolve(hooks.onHeartbeat?.(this.#o.now())),
      });
    } catch (e) {
      throw cancelledError(aborter.signal, this.#stopping.signal) ?? translateError(e);
    } finally {
      aborter.dispose();
    }
  }

  /**
   * Restores a snapshot into a directory of this host, optionally defining a new domain.
   * Aborting `hooks.signal` (or closing the service) interrupts it, and the restore removes what
   * it wrote (`RESTORE_INTERRUPTED`); {@link close} waits for that.
   */
  async restore(req: AgentRestoreRequest, hooks: JobHooks): Promise<AgentRestoreResult> {
    if (this.#stopping.signal.aborted) {
      throw new AgentError('AGENT_SHUTTING_DOWN', 'the agent is shutting down');
    }
    const p = this.#executeRestore(req, hooks);
    this.#restores.add(p);
    try {
      return await p;
    } finally {
      this.#restores.delete(p);
    }
  }

  async #executeRestore(req: AgentRestoreRequest, hooks: JobHooks): Promise<AgentRestoreResult> {
    if (!path.isAbsolute(req.outputDir)) {
      throw new AgentError('BAD_REQUEST', `outputDir must be absolute, not "${req.outputDir}"`);
    }
    await assertUnderRestoreRoots(req.outputDir, this.#o.config.restoreRoots);
    const repo = await this.#repos.get(req.repository);
    const uri = this.#o.config.libvirtUri;
    const name = req.defineName;
    if (name !== undefined) {
      // a taken name is refused before the disks are written, not after
      await assertDomainNameFree(uri, name);
    }
    let definedUuid: string | null = null;
    const aborter = linkedAbort(hooks.signal, this.#stopping.signal);
    try {
      const disks = await restoreSnapshot({
        repo,
        domainUuid: req.domainUuid,
        snapshotId: req.snapshotId,
        outputDir: req.outputDir,
        format: req.format,
        ...(req.disks !== undefined ? { disks: req.disks } : {}),
        signal: aborter.signal,
        onProgress: (p) => hooks.onProgress(restoreProgress(p)),
        // inside the restore: a refused definition removes the disks, so the request can be repeated
        ...(name !== undefined
          ? {
              complete: async (written, m) => {
                definedUuid = await defineRestoredDomain(uri, m.domainXml, name, written);
              },
            }
          : {}),
      });
      return { disks: disks.map(restoredDisk), definedUuid };
    } finally {
      aborter.dispose();
    }
  }

  /**
   * GFS retention. Aborting `signal` (the caller cancelled) or closing the service stops it between
   * snapshots; what it removed stays removed, the rest stays.
   */
  prune(req: AgentPruneRequest, signal?: AbortSignal): Promise<AgentPruneResult> {
    return this.#maintain('prune', signal, (s) => this.#repos.prune(req, s));
  }

  /**
   * Mark and sweep. Aborting `signal` or closing the service stops it (an interrupted sweep leaves
   * the repository consistent: the next GC goes on).
   */
  collectGarbage(
    repository: string,
    dryRun: boolean,
    signal?: AbortSignal,
  ): Promise<AgentGcResult> {
    const host = this.#o.config.hostName;
    return this.#maintain('GC', signal, (s) =>
      this.#repos.collectGarbage(repository, dryRun, host, s),
    );
  }

  /**
   * Runs repository maintenance under a signal of its caller and of the shutdown, which
   * {@link close} waits for: closing the repositories under a running sweep cut it off anywhere.
   */
  async #maintain<T>(
    what: string,
    signal: AbortSignal | undefined,
    f: (signal: AbortSignal) => Promise<T>,
  ): Promise<T> {
    if (this.#stopping.signal.aborted) {
      throw new AgentError('AGENT_SHUTTING_DOWN', 'the agent is shutting down');
    }
    const aborter = linkedAbort(signal ?? new AbortController().signal, this.#stopping.signal);
    const work = f(aborter.signal);
    this.#maintenance.add(work);
    try {
      return await work;
    } catch (e) {
      throw interruptedError(aborter.signal, this.#stopping.signal, what) ?? e;
    } finally {
      this.#maintenance.delete(work);
      aborter.dispose();
    }
  }

  /**
   * Aborts every running backup, restore, prune and GC and waits (at most `graceMs`) for their
   * clean-up, then closes the repositories and libvirt. Idempotent.
   */
  async close(graceMs = 30_000): Promise<void> {
    this.#stopping.abort(new AgentError('AGENT_SHUTTING_DOWN', 'the agent is shutting down'));
    const settled = Promise.allSettled([...this.#running, ...this.#restores, ...this.#maintenance]);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, graceMs);
    });
    await Promise.race([settled, timeout]);
    clearTimeout(timer);
    this.#listeners.clear();
    await this.#repos.close();
    const conn = this.#conn ?? (await this.#connecting?.catch(() => null)) ?? null;
    this.#conn = null;
    await conn?.close();
  }
}

/** Runs `f`, giving libvirt's not-found errors our codes. */
async function guard<T>(f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    throw translateError(e);
  }
}
