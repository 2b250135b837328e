/**
 * In-memory fakes of runBackup's ports, for tests only: a hypervisor with one domain, an executor
 * that "backs up" by writing a manifest into a fake repository, a clock and an id generator.
 * The lineage integration tests reuse them with the real Postgres/PGlite store.
 */
import { CoreError } from '../errors.js';
import type { DomainLineage, VerifyState } from '../model/lineage.js';
import type { SnapshotManifest } from '../model/manifest.js';
import type { ObservedDomain } from '../model/observed.js';
import type { BitmapRemoval, RedefineAction } from '../model/plan.js';
import type {
  BackupExecutor,
  BackupRequest,
  Clock,
  Hypervisor,
  IdGenerator,
  ManifestSource,
  PlanHints,
} from '../run/ports.js';

/** A clock that only moves when told. */
export class FakeClock implements Clock {
  constructor(public t: number) {}
  now(): number {
    return this.t;
  }
  advance(ms: number): void {
    this.t += ms;
  }
}

/** Sortable ids `01J…0001`, `01J…0002`, … with a prefix per generator. */
export class FakeIds implements IdGenerator {
  #n = 0;
  constructor(private readonly prefix = '01J') {}
  next(): string {
    this.#n += 1;
    return `${this.prefix}${String(this.#n).padStart(26 - this.prefix.length, '0')}`;
  }
}

/** Manifests per repository, as a repository folder would hold them. */
export class FakeRepository implements ManifestSource {
  readonly manifests = new Map<string, SnapshotManifest[]>();
  /** Verify results recorded beside the snapshots, by snapshot id. */
  readonly verified = new Map<string, VerifyState>();
  verifyResults(): Promise<ReadonlyMap<string, VerifyState>> {
    return Promise.resolve(new Map(this.verified));
  }
  listManifests(repository: string, domainUuid: string): Promise<SnapshotManifest[]> {
    const all = this.manifests.get(repository) ?? [];
    return Promise.resolve(all.filter((m) => m.domain.uuid === domainUuid));
  }
  commit(repository: string, m: SnapshotManifest): void {
    this.manifests.set(repository, [...(this.manifests.get(repository) ?? []), m]);
  }
}

/** One domain on a fake host; records every checkpoint call in `calls`. */
export class FakeHypervisor implements Hypervisor {
  readonly calls: string[] = [];
  /** When set, redefine throws this message. */
  failRedefine: string | null = null;
  /** When set, bitmap removal throws this message. */
  failRemoveBitmap: string | null = null;
  /** When set, deleting checkpoint metadata throws this message. */
  failDeleteMetadata: string | null = null;
  constructor(public state: ObservedDomain) {}

  observe(domain: string): Promise<ObservedDomain> {
    if (domain !== this.state.domain.name && domain !== this.state.domain.uuid) {
      return Promise.reject(new CoreError('DOMAIN_NOT_FOUND', `no domain ${domain}`));
    }
    return Promise.resolve(structuredClone(this.state));
  }
  redefineCheckpoint(_uuid: string, a: RedefineAction): Promise<void> {
    this.calls.push(`redefine ${a.checkpoint}${a.validate ? ' validate' : ''}`);
    if (this.failRedefine) {
      return Promise.reject(new Error(this.failRedefine));
    }
    this.state.checkpoints.push({ name: a.checkpoint, parent: null });
    return Promise.resolve();
  }
  deleteCheckpointMetadata(_uuid: string, checkpoint: string): Promise<void> {
    this.calls.push(`delete-metadata ${checkpoint}`);
    if (this.failDeleteMetadata) {
      return Promise.reject(new Error(this.failDeleteMetadata));
    }
    this.state.checkpoints = this.state.checkpoints.filter((c) => c.name !== checkpoint);
    return Promise.resolve();
  }
  removeBitmap(_uuid: string, disk: string, bitmap: string, via: BitmapRemoval): Promise<void> {
    this.calls.push(`remove-bitmap ${disk} ${bitmap} ${via}`);
    if (this.failRemoveBitmap) {
      return Promise.reject(new Error(this.failRemoveBitmap));
    }
    const d = this.state.disks.find((x) => x.target === disk);
    if (d) {
      d.bitmaps = d.bitmaps.filter((b) => b.name !== bitmap);
    }
    return Promise.resolve();
  }
  /** Every bitmap of every disk in use, as after QEMU was killed. */
  markAllInconsistent(): void {
    for (const d of this.state.disks) {
      for (const b of d.bitmaps) {
        b.inconsistent = true;
      }
    }
  }
  /** What a backup job with a new checkpoint leaves on the host. */
  addCheckpoint(name: string, disks: readonly string[]): void {
    this.state.checkpoints.push({ name, parent: null });
    for (const d of this.state.disks.filter((x) => disks.includes(x.target))) {
      d.bitmaps.push({ name, recording: true, persistent: true, inconsistent: false, busy: false });
    }
  }
}

/** Backs up by committing a manifest to the fake repository. */
export class FakeExecutor implements BackupExecutor {
  readonly requests: BackupRequest[] = [];
  /** Incrementals to reject at start with INCREMENTAL_REJECTED. */
  rejectIncrementals = 0;
  /** Incrementals whose parent the repository cannot give (PARENT_UNREADABLE). */
  unreadableParents = 0;
  /** When set, fails every backup with this error. */
  failWith: Error | null = null;
  /** When set, execute waits for it before committing (for concurrency tests). */
  gate: Promise<void> | null = null;
  /** Attempts started early and then cancelled (their requests, also in `requests`). */
  readonly cancelled: BackupRequest[] = [];

  /** The requests of attempts that were not cancelled. */
  get kept(): BackupRequest[] {
    return this.requests.filter((r) => !this.cancelled.includes(r));
  }

  constructor(
    private readonly hypervisor: FakeHypervisor,
    private readonly repo: FakeRepository,
    private readonly clock: FakeClock,
  ) {}

  async execute(r: BackupRequest): Promise<SnapshotManifest> {
    this.requests.push(r);
    if (r.level !== 'full' && this.rejectIncrementals > 0) {
      this.rejectIncrementals -= 1;
      const msg = `checkpoint inconsistent: missing or broken bitmap '${r.incrementalFrom ?? ''}' for disk 'vda'`;
      throw new CoreError('INCREMENTAL_REJECTED', msg);
    }
    if (r.level !== 'full' && this.unreadableParents > 0) {
      this.unreadableParents -= 1;
      const msg = `the parent snapshot ${r.parentSnapshot ?? ''} cannot be read: index is missing`;
      throw new CoreError('PARENT_UNREADABLE', msg);
    }
    await this.gate;
    let confirmed: Awaited<BackupRequest['proceed']>;
    try {
      confirmed = await r.proceed;
    } catch (e) {
      // what the engine does: nothing of the attempt stays (no checkpoint, no manifest)
      this.cancelled.push(r);
      throw e;
    }
    await r.heartbeat();
    if (this.failWith) {
      throw this.failWith;
    }
    return this.commit(confirmed === undefined ? r : { ...r, reasons: confirmed.reasons });
  }

  private commit(r: BackupRequest): SnapshotManifest {
    const nc = r.newCheckpoint;
    if (nc) {
      this.hypervisor.addCheckpoint(nc.name, nc.disks);
    }
    const at = new Date(this.clock.now()).toISOString();
    const m: SnapshotManifest = {
      format: 'virtvault-snapshot',
      version: 1,
      id: r.snapshotId,
      domain: { uuid: r.observed.domain.uuid, name: r.observed.domain.name },
      host: r.observed.host,
      level: r.level,
      reasons: r.reasons,
      checkpoint: nc
        ? { name: nc.name, xml: `<domaincheckpoint><name>${nc.name}</name></domaincheckpoint>` }
        : null,
      parent: r.parentSnapshot,
      domainXml: '<domain/>',
      disks: r.observed.disks.map((d) => ({
        target: d.target,
        source: d.source,
        format: d.format,
        virtualSize: d.virtualSize,
        index: `${d.target}.index`,
        indexSha256: '0'.repeat(64),
        bytesRead: r.level === 'full' ? 1000 : 10,
        bytesNew: r.level === 'full' ? 800 : 8,
      })),
      startedAt: at,
      endedAt: at,
      toolVersion: '0.1.0-test',
    };
    this.repo.commit(r.repository, m);
    return m;
  }
}

/** Plan hints in memory; `saved` counts the saves. */
export class FakePlanHints implements PlanHints {
  readonly #byKey = new Map<string, DomainLineage>();
  saved = 0;

  load(repository: string, domainUuid: string): Promise<DomainLineage | null> {
    const l = this.#byKey.get(`${repository} ${domainUuid}`);
    return Promise.resolve(l === undefined ? null : structuredClone(l));
  }

  save(lineage: DomainLineage): Promise<void> {
    this.saved += 1;
    this.#byKey.set(`${lineage.repository} ${lineage.domain.uuid}`, structuredClone(lineage));
    return Promise.resolve();
  }
}
