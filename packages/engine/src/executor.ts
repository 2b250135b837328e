/**
 * The backup executor of core's `runBackup`: writes one snapshot of a domain into a repository,
 * from a running domain's pull-mode backup job or a stopped domain's images, and commits it
 * (manifest last). On any failure nothing of the attempt remains: job ended, scratch files and
 * the new checkpoint gone, the half-written snapshot removed.
 */
import { setMaxListeners } from 'node:events';
import { chmodSync } from 'node:fs';

import {
  hasErrorCode,
  type BackupExecutor,
  type BackupRequest,
  type Consistency,
  type SnapshotManifest,
} from '@virtvault/core';
import type { Domain } from '@virtvault/libvirt';
import { makeDirsSync, SnapshotWriter, type Repository } from '@virtvault/repo';

import type { DiskProgress } from './disk-copy.js';
import { interruptedOr } from './errors.js';
import type { LibvirtHypervisor } from './hypervisor.js';
import type { BackupPhase } from './job-options.js';
import { offlineBackup } from './offline-backup.js';
import { parentError } from './parent-check.js';
import { assertPrivateScratch } from './scratch-guard.js';
import { dropCheckpoint, pullBackup } from './pull-backup.js';

/** Options of the {@link Executor}. */
export interface ExecutorOptions {
  /** The hypervisor adapter (its connection is the caller's). */
  hypervisor: LibvirtHypervisor;
  /** Opens (or returns an already open) repository by path. */
  openRepository: (path: string) => Promise<Repository>;
  /** Directory for NBD sockets and scratch files. */
  scratchDir: string;
  /** Version recorded in manifests. */
  toolVersion: string;
  /** Wall clock (epoch ms); manifests record ISO times. */
  now: () => number;
  /** Progress per disk. */
  onProgress?: (p: DiskProgress) => void;
  /** Cancels running backups (SIGTERM). */
  signal?: AbortSignal;
  /** Notes about a backup for the user (e.g. why it is only crash-consistent). */
  onNote?: (note: string) => void;
  /** How often the run's lease is renewed during the transfer. @default 60000 */
  heartbeatMs?: number;
  /** Called as each backup passes each {@link BackupPhase}. */
  onPhase?: (phase: BackupPhase) => void;
}

/** What a backup produced besides the data, for the manifest. */
interface Produced {
  checkpointXml: string | null;
  domainXml: string;
  consistency: Consistency;
  notes: string[];
  ended: Promise<string | null>;
}

/** The engine's implementation of core's `BackupExecutor` port. */
export class Executor implements BackupExecutor {
  readonly #o: ExecutorOptions;

  /** @param options see {@link ExecutorOptions} */
  constructor(options: ExecutorOptions) {
    this.#o = options;
  }

  /** Takes the backup and commits the snapshot; returns its manifest. */
  async execute(req: BackupRequest): Promise<SnapshotManifest> {
    this.#o.onPhase?.('started');
    const lease = new AbortController();
    const signal = this.#signalFor(req, lease.signal);
    const repo = await this.#o.openRepository(req.repository);
    const domain = await this.#o.hypervisor.domain(req.observed.domain.uuid);
    const startedAt = new Date(this.#o.now()).toISOString();
    const writer = await this.#openWriter(repo, req);
    let produced: Produced | null = null;
    // a long transfer must not look like a dead run to the lineage
    const beat = setInterval(() => {
      req.heartbeat().catch((e: unknown) => {
        // another run has the domain now: stop as if cancelled, with nothing committed
        if (hasErrorCode(e, 'RUN_TAKEN_OVER')) {
          lease.abort(e);
        }
      });
    }, this.#o.heartbeatMs ?? 60_000);
    try {
      produced = await this.#produce(repo, domain, writer, req, signal);
      const manifest = await this.#commit(writer, req, produced, startedAt, signal);
      await this.#settle(produced);
      return manifest;
    } catch (e) {
      await writer.abort().catch(() => undefined);
      if (produced !== null) {
        await this.#settle(produced);
      }
      // also when the attempt itself failed: it dropped the checkpoint's metadata, but a guest
      // that shut down meanwhile kept the new bitmaps in its images
      await this.#dropNewCheckpoint(domain, req);
      throw lease.signal.aborted ? lease.signal.reason : interruptedOr(this.#o.signal, e);
    } finally {
      clearInterval(beat);
      await writer.close().catch(() => undefined);
    }
  }

  /**
   * Commits the snapshot once the plan is confirmed (an attempt started early waits for it). A
   * signal (or a lost lease) that came while the copy ended or the plan was being confirmed stops the run here, with
   * nothing committed; once the commit has begun it completes (the snapshot is whole and kept).
   */
  async #commit(
    writer: SnapshotWriter,
    req: BackupRequest,
    produced: Produced,
    startedAt: string,
    signal: AbortSignal,
  ): Promise<SnapshotManifest> {
    const confirmed = await unlessAborted(req.proceed, signal);
    for (const note of produced.notes) {
      this.#o.onNote?.(note);
    }
    const cp = req.newCheckpoint;
    this.#o.onPhase?.('committing');
    const manifest = await writer.commit({
      host: req.observed.host,
      level: req.level,
      reasons: [...(confirmed?.reasons ?? req.reasons)],
      checkpoint:
        cp !== null && produced.checkpointXml !== null
          ? { name: cp.name, xml: produced.checkpointXml }
          : null,
      domainXml: produced.domainXml,
      startedAt,
      endedAt: new Date(this.#o.now()).toISOString(),
      toolVersion: this.#o.toolVersion,
      consistency: produced.consistency,
    });
    this.#o.onPhase?.('committed');
    return manifest;
  }

  /**
   * Removes the checkpoint a failed attempt made (if it made one). libvirt deletes only the
   * metadata of a stopped domain's checkpoint, so the bitmaps of an offline attempt, or of a live
   * one whose guest shut down meanwhile, are removed from the images as well (through QEMU if the
   * domain started meanwhile); left, they would record every write until a later run of this
   * lineage cleaned them up, and forever for a domain it never backs up again.
   */
  async #dropNewCheckpoint(domain: Domain, req: BackupRequest): Promise<void> {
    const cp = req.newCheckpoint;
    if (cp === null) {
      return;
    }
    await dropCheckpoint(domain, cp.name);
    const live = await domain.status().then(
      (st) => st.active,
      () => false,
    );
    if (cp.mode !== 'offline' && live) {
      // still the QEMU that made them: libvirt removed the bitmaps with the checkpoint
      return;
    }
    const uuid = req.observed.domain.uuid;
    for (const disk of cp.disks) {
      await this.#o.hypervisor
        .removeBitmap(uuid, disk, cp.name, live ? 'qmp' : 'qemu-img')
        .catch(() => undefined);
    }
  }

  /** The run's signal, which the lost lease and an early attempt's cancellation also abort. */
  #signalFor(req: BackupRequest, lease: AbortSignal): AbortSignal {
    const parts = [lease];
    if (this.#o.signal !== undefined) {
      parts.push(this.#o.signal);
    }
    if (req.proceed !== undefined) {
      const cancelled = new AbortController();
      req.proceed.catch((e: unknown) => cancelled.abort(e));
      parts.push(cancelled.signal);
    }
    const signal = AbortSignal.any(parts);
    // every NBD request of the copy listens to it
    setMaxListeners(0, signal);
    return signal;
  }

  /** Waits for the job's end (overlapped with the commit); a failure to end it is a note. */
  async #settle(produced: Produced): Promise<void> {
    const why = await produced.ended;
    if (why !== null) {
      this.#o.onNote?.(why);
    }
  }

  async #openWriter(repo: Repository, req: BackupRequest): Promise<SnapshotWriter> {
    const { uuid, name } = req.observed.domain;
    const writer = new SnapshotWriter(repo, {
      domain: { uuid, name },
      snapshotId: req.snapshotId,
      parent: req.parentSnapshot,
      host: req.observed.host,
    });
    await writer.open().catch((e: unknown) => {
      throw parentError(req, e);
    });
    try {
      for (const d of req.observed.disks) {
        await writer.startDisk({
          target: d.target,
          virtualSize: d.virtualSize,
          source: d.source,
          format: d.format,
          fromParent: req.parentSnapshot !== null,
        });
      }
    } catch (e) {
      await writer.abort().catch(() => undefined);
      throw parentError(req, e);
    }
    return writer;
  }

  async #produce(
    repo: Repository,
    domain: Domain,
    writer: SnapshotWriter,
    req: BackupRequest,
    signal: AbortSignal | undefined,
  ): Promise<Produced> {
    const common = {
      domain,
      writer,
      disks: req.observed.disks.map((d) => d.target),
      slotSize: repo.config.chunkSize,
      incrementalFrom: req.level === 'full' ? null : req.incrementalFrom,
      fullDisks: req.observed.disks.filter((d) => !d.bitmapsSupported).map((d) => d.target),
      newCheckpoint: req.newCheckpoint,
      // the repository patches over the parent's slot or over zeros alike
      parentHasData: () => true,
      scratchDir: this.#o.scratchDir,
      tag: req.snapshotId,
      quiesce: req.quiesce === true,
      ...(this.#o.onProgress ? { onProgress: this.#o.onProgress } : {}),
      ...(signal ? { signal } : {}),
      ...(this.#o.onPhase ? { onPhase: this.#o.onPhase } : {}),
    };
    // a first backup on a new host: libvirt refused the job ("failed to create image file") when
    // the scratch directory (default /var/tmp/virtvault) did not exist yet. QEMU's user must pass
    // through it to its job folder whatever the umask (the agent's unit has 0077): searchable,
    // not listable
    for (const d of makeDirsSync(this.#o.scratchDir)) {
      chmodSync(d, 0o711);
    }
    assertPrivateScratch(this.#o.scratchDir);
    if (req.observed.domain.state === 'shut-off') {
      return offlineBackup({ ...common, observed: req.observed });
    }
    return pullBackup(common);
  }
}

/**
 * Settles like `p` (at once when there is none), or rejects with `signal`'s reason if it is
 * aborted already or before `p` settles.
 */
async function unlessAborted<T>(
  p: Promise<T> | undefined,
  signal: AbortSignal | undefined,
): Promise<T | undefined> {
  signal?.throwIfAborted();
  if (p === undefined || signal === undefined) {
    return p;
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    const settle = (): void => signal.removeEventListener('abort', onAbort);
    p.then(
      (v) => {
        settle();
        resolve(v);
      },
      (e: Error) => {
        settle();
        reject(e);
      },
    );
  });
}
