/**
 * `FakeAgent…`: in-memory implementations of the agent API for controller tests (the real agent
 * path is proven by the end-to-end tests with real agents). A `FakeAgentWorld` holds which VM is
 * on which host; manifests are JSON files in a directory, so replicas in other processes see them.
 */
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import type {
  AgentEventInfo,
  HostInfo,
  InventoryDomain,
  ObservedDomain,
  SnapshotManifest,
  VerifyState,
} from '@virtvault/core';
import { selectRetention } from '@virtvault/core';
import type {
  AgentApi,
  AgentBackupRequest,
  AgentGcResult,
  AgentPruneRequest,
  AgentPruneResult,
  AgentRestoreResult,
  StreamOptions,
} from '@virtvault/proto';
import { ProtoError } from '@virtvault/proto';

/** A VM of the fake world. */
export interface FakeVm {
  uuid: string;
  name: string;
  host: string;
  tags: string[];
}

/** Behaviour of the fake agents. */
export interface FakeAgentBehaviour {
  /** Duration of each backup. @default 50 */
  backupMs?: number;
  /** Agent heartbeat period during backups. @default 100 */
  heartbeatMs?: number;
  /** Per host: backups that fail with AGENT_UNAVAILABLE before one succeeds. */
  failFirstBackups?: Record<string, number>;
  /**
   * Per host: the agent's own `maxConcurrentBackups`, which its `hostInfo` reports; a backup
   * beyond it is refused with AGENT_BUSY, as a real agent refuses it.
   */
  agentLimit?: Record<string, number>;
  /** VMs (by uuid) whose backup manifest names another host: a buggy or lying agent. */
  wrongHostFor?: string[];
  /** Per host: the repositories its agent has. @default ['main'] */
  repositories?: Record<string, string[]>;
}

/** One backup as the fake agents saw it (for overlap checks). */
export interface FakeBackupRecord {
  host: string;
  domainUuid: string;
  start: number;
  end: number;
  outcome: 'ok' | 'failed' | 'cancelled';
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(t);
        reject(new ProtoError('AGENT_CANCELLED', 'cancelled by the controller'));
      },
      { once: true },
    );
  });

/** The hosts and VMs the fake agents serve. */
export class FakeAgentWorld {
  readonly vms = new Map<string, FakeVm>();
  readonly checkpoints = new Map<string, { name: string; parent: string | null }[]>();
  readonly backups: FakeBackupRecord[] = [];
  /** Hosts whose agent answers no call (AGENT_UNAVAILABLE). */
  readonly down = new Set<string>();
  /** Per host: the name its agent calls itself (its `hostName`), when not the fleet's. */
  readonly selfNames = new Map<string, string>();
  /** Every `observe` call, as `host domain`. */
  readonly observeCalls: string[] = [];
  /** Backups refused with AGENT_BUSY, as `host domain`. */
  readonly busyRefusals: string[] = [];
  /** Repository GCs run, as `host repository`. */
  readonly gcRuns: string[] = [];
  /**
   * Definitions a live migration left behind, by VM uuid: the old host lists the VM shut off, and
   * its observe fails DISK_IN_USE (the image held by the QEMU that runs it now, shared storage)
   * or succeeds shut off (`readable`: storage not shared, a stale copy of the image).
   */
  readonly leftBehind = new Map<string, { host: string; readable: boolean }>();
  readonly #failuresLeft = new Map<string, number>();

  /**
   * @param repoDir where manifests go
   * @param behaviour timings and failures
   */
  constructor(
    readonly repoDir: string,
    readonly behaviour: FakeAgentBehaviour = {},
  ) {
    for (const [h, n] of Object.entries(behaviour.failFirstBackups ?? {})) {
      this.#failuresLeft.set(h, n);
    }
  }

  /** Adds or moves a VM. */
  place(vm: FakeVm): void {
    this.vms.set(vm.uuid, vm);
  }

  /** The agent of a host. */
  agent(host: string): FakeAgentApi {
    return new FakeAgentApi(host, this);
  }

  /** Consumes one planned failure of a host. */
  takeFailure(host: string): boolean {
    const n = this.#failuresLeft.get(host) ?? 0;
    this.#failuresLeft.set(host, Math.max(0, n - 1));
    return n > 0;
  }
}

/** A VM's definition left on `host` by a migration: shut off there, no checkpoints. */
function leftBehindOf(vm: FakeVm, host: string): ObservedDomain {
  const o = observedOf({ ...vm, host }, []);
  return { ...o, domain: { ...o.domain, state: 'shut-off' } };
}

function observedOf(vm: FakeVm, cps: { name: string; parent: string | null }[]): ObservedDomain {
  const bitmaps = cps.map((c) => ({
    name: c.name,
    recording: true,
    persistent: true,
    inconsistent: false,
    busy: false,
  }));
  return {
    host: vm.host,
    domain: { uuid: vm.uuid, name: vm.name, state: 'running', transient: false },
    disks: [
      {
        target: 'vda',
        source: `/var/lib/libvirt/images/${vm.name}.qcow2`,
        format: 'qcow2',
        virtualSize: 1 << 30,
        nodeName: 'libvirt-1-format',
        bitmapsSupported: true,
        bitmaps,
      },
    ],
    checkpoints: cps,
  };
}

/** A fake agent of one host. */
export class FakeAgentApi implements AgentApi {
  /**
   * @param host host name
   * @param world the shared world
   */
  constructor(
    readonly host: string,
    readonly world: FakeAgentWorld,
  ) {}

  private vm(domain: string): FakeVm {
    const vm = [...this.world.vms.values()].find(
      (v) => v.host === this.host && (v.uuid === domain || v.name === domain),
    );
    if (vm === undefined) {
      throw new ProtoError('DOMAIN_NOT_FOUND', `no domain ${domain} on ${this.host}`);
    }
    return vm;
  }

  hostInfo(): Promise<HostInfo> {
    return Promise.resolve({
      hostName: this.host,
      agentVersion: '0.1.0-fake',
      libvirtVersion: '9.0.0',
      hypervisorVersion: '7.2.0',
      libvirtUri: 'qemu:///system',
      repositories: this.repositories(),
      maxConcurrentBackups: this.world.behaviour.agentLimit?.[this.host] ?? 4,
      runningBackups: 0,
      cpus: 2,
      memoryBytes: 4 << 30,
      startedAtMs: 0,
    });
  }

  listDomains(): Promise<InventoryDomain[]> {
    if (this.world.down.has(this.host)) {
      // a down agent answers no call, the inventory's neither
      const e = new ProtoError('AGENT_UNAVAILABLE', `agent of ${this.host}: connection refused`);
      return Promise.reject(e);
    }
    const mine = [...this.world.vms.values()].filter((v) => v.host === this.host);
    const stale = [...this.world.vms.values()].filter(
      (v) => this.world.leftBehind.get(v.uuid)?.host === this.host,
    );
    return Promise.resolve([
      ...mine.map((vm) => {
        const o = observedOf(vm, this.world.checkpoints.get(vm.uuid) ?? []);
        return { ...o.domain, tags: vm.tags, disks: o.disks, checkpoints: o.checkpoints };
      }),
      ...stale.map((vm) => {
        const o = leftBehindOf(vm, this.host);
        return { ...o.domain, tags: vm.tags, disks: o.disks, checkpoints: o.checkpoints };
      }),
    ]);
  }

  async observe(domain: string): Promise<ObservedDomain> {
    await Promise.resolve();
    this.world.observeCalls.push(`${this.host} ${domain}`);
    if (this.world.down.has(this.host)) {
      throw new ProtoError('AGENT_UNAVAILABLE', `agent of ${this.host}: connection refused`);
    }
    const stale = [...this.world.vms.values()].find(
      (v) => (v.uuid === domain || v.name === domain) && v.host !== this.host,
    );
    const behind = stale && this.world.leftBehind.get(stale.uuid);
    if (stale !== undefined && behind?.host === this.host) {
      if (!behind.readable) {
        throw new ProtoError(
          'DISK_IN_USE',
          `the image of ${stale.name} is in use by another process`,
        );
      }
      return leftBehindOf(stale, this.host);
    }
    const vm = this.vm(domain);
    const o = observedOf(vm, this.world.checkpoints.get(vm.uuid) ?? []);
    return { ...o, host: this.world.selfNames.get(this.host) ?? o.host };
  }

  private dir(repository: string, uuid: string): string {
    return join(this.world.repoDir, repository, uuid);
  }

  async listManifests(repository: string, domainUuid: string): Promise<SnapshotManifest[]> {
    const dir = this.dir(repository, domainUuid);
    const names = await readdir(dir).catch(() => [] as string[]);
    const texts = await Promise.all(names.map((n) => readFile(join(dir, n), 'utf8')));
    return texts.map((t) => JSON.parse(t) as SnapshotManifest);
  }

  listVerifyResults(): Promise<Map<string, VerifyState>> {
    return Promise.resolve(new Map<string, VerifyState>());
  }

  redefineCheckpoint(): Promise<void> {
    return Promise.resolve();
  }
  deleteCheckpointMetadata(): Promise<void> {
    return Promise.resolve();
  }
  removeBitmap(): Promise<void> {
    return Promise.resolve();
  }

  async runBackup(req: AgentBackupRequest, o: StreamOptions = {}): Promise<SnapshotManifest> {
    const b = this.world.behaviour;
    const limit = b.agentLimit?.[this.host];
    const running = this.world.backups.filter((x) => x.host === this.host && x.end === 0).length;
    if (limit !== undefined && running >= limit) {
      this.world.busyRefusals.push(`${this.host} ${req.observed.domain.uuid}`);
      throw new ProtoError('AGENT_BUSY', `agent of ${this.host}: ${running} backups running`);
    }
    const rec: FakeBackupRecord = {
      host: this.host,
      domainUuid: req.observed.domain.uuid,
      start: Date.now(),
      end: 0,
      outcome: 'failed',
    };
    this.world.backups.push(rec);
    try {
      if (this.world.takeFailure(this.host)) {
        throw new ProtoError('AGENT_UNAVAILABLE', `agent of ${this.host}: connection refused`);
      }
      await this.transfer(b.backupMs ?? 50, b.heartbeatMs ?? 100, o);
      const manifest = await this.commit(req, rec.start);
      rec.outcome = 'ok';
      return manifest;
    } catch (e) {
      rec.outcome = o.signal?.aborted === true ? 'cancelled' : 'failed';
      throw e;
    } finally {
      rec.end = Date.now();
    }
  }

  private async transfer(ms: number, beat: number, o: StreamOptions): Promise<void> {
    const end = Date.now() + ms;
    let read = 0;
    while (Date.now() < end) {
      await sleep(Math.min(beat, Math.max(1, end - Date.now())), o.signal);
      read += 1 << 20;
      o.onHeartbeat?.(Date.now());
      o.onProgress?.({ target: 'vda', bytesRead: read, bytesToRead: 1 << 30 });
    }
  }

  private async commit(req: AgentBackupRequest, start: number): Promise<SnapshotManifest> {
    const vm = this.vm(req.observed.domain.uuid);
    const cp = req.newCheckpoint;
    const manifest: SnapshotManifest = {
      format: 'virtvault-snapshot',
      version: 1,
      id: req.snapshotId,
      domain: { uuid: vm.uuid, name: vm.name },
      host: this.world.behaviour.wrongHostFor?.includes(vm.uuid) === true ? 'elsewhere' : this.host,
      level: req.level,
      reasons: req.reasons,
      checkpoint:
        cp === null
          ? null
          : { name: cp.name, xml: `<domaincheckpoint><name>${cp.name}</name></domaincheckpoint>` },
      parent: req.parentSnapshot,
      domainXml: `<domain type="kvm"><name>${vm.name}</name><uuid>${vm.uuid}</uuid></domain>`,
      disks: req.observed.disks.map((d) => ({
        target: d.target,
        source: d.source,
        format: d.format,
        virtualSize: d.virtualSize,
        index: `${d.target}.index`,
        indexSha256: 'ab'.repeat(32),
        bytesRead: 1 << 20,
        bytesNew: 1 << 19,
      })),
      startedAt: new Date(start).toISOString(),
      endedAt: new Date().toISOString(),
      toolVersion: '0.1.0-fake',
    };
    const dir = this.dir(req.repository, vm.uuid);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, `${manifest.id}.json`), JSON.stringify(manifest));
    if (cp !== null) {
      const cps = this.world.checkpoints.get(vm.uuid) ?? [];
      cps.push({ name: cp.name, parent: cps.at(-1)?.name ?? null });
      this.world.checkpoints.set(vm.uuid, cps);
    }
    return manifest;
  }

  restore(): Promise<AgentRestoreResult> {
    return Promise.reject(new ProtoError('UNSUPPORTED', 'the fake agent does not restore'));
  }

  async prune(req: AgentPruneRequest): Promise<AgentPruneResult> {
    const uuid = req.domainUuid ?? '';
    const manifests = await this.listManifests(req.repository, uuid);
    const r = selectRetention({
      snapshots: manifests.map((m) => ({ id: m.id, time: m.startedAt })),
      policy: req,
      now: Date.now(),
      timeZone: req.timeZone ?? 'UTC',
    });
    for (const d of r.remove) {
      await rm(join(this.dir(req.repository, uuid), `${d.id}.json`), { force: true });
    }
    return {
      kept: r.keep.map((d) => `${uuid}/${d.id}`),
      removed: r.remove.map((d) => `${uuid}/${d.id}`),
      inUse: [],
      damaged: [],
    };
  }

  private repositories(): string[] {
    return this.world.behaviour.repositories?.[this.host] ?? ['main'];
  }

  collectGarbage(repository: string): Promise<AgentGcResult> {
    if (!this.repositories().includes(repository)) {
      const e = new ProtoError(
        'REPOSITORY_UNKNOWN',
        `${this.host} has no repository ${repository}`,
      );
      return Promise.reject(e);
    }
    this.world.gcRuns.push(`${this.host} ${repository}`);
    return Promise.resolve({
      marked: 0,
      swept: 0,
      sweptBytes: 0,
      removedSnapshots: [],
      removedBad: 0,
    });
  }

  async *watchEvents(signal: AbortSignal): AsyncIterable<AgentEventInfo> {
    await new Promise<void>((resolve) =>
      signal.addEventListener('abort', () => resolve(), { once: true }),
    );
    yield* [];
  }

  close(): void {}
}
