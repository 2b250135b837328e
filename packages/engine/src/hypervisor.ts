/**
 * The hypervisor port of core's `runBackup`, over `@virtvault/libvirt`: what a domain looks like
 * now (disks, checkpoints, each disk's bitmaps with their flags), and the crash-safe clean-up
 * pieces (checkpoint metadata deletes, bitmap removals, redefines).
 */
import type {
  BitmapRemoval,
  DomainRunState,
  Hypervisor,
  ObservedDisk,
  ObservedDomain,
  RedefineAction,
} from '@virtvault/core';
import type { Connection } from '@virtvault/libvirt';
import {
  diskBitmaps,
  isNoCheckpoint,
  isNoDomain,
  LibvirtError,
  removeRunningBitmap,
  withoutCheckpointParent,
  type DiskBitmaps,
  type DiskInfo,
  type Domain,
  type DomainState,
} from '@virtvault/libvirt';

import { EngineError } from './errors.js';
import { connectLibvirt } from './libvirt-connect.js';
import { staleJobSocket } from './pull-backup.js';
import { assertImageFree, bitmapArgs, imageFacts, imageInfo, qemuImg } from './qemu-img.js';
import { imageFiles, type ScratchRoom, scratchRoom } from './scratch-space.js';

/** Disks virtvault backs up: real disks with a local file or block source, writable, not shared. */
export function isBackupDisk(d: DiskInfo): boolean {
  return d.device === 'disk' && d.path !== undefined && !d.readOnly && !d.shareable;
}

/** One disk as the planner sees it: its image's facts and its bitmaps with their flags. */
async function observeDisk(
  d: DiskInfo,
  b: DiskBitmaps | undefined,
  active: boolean,
): Promise<ObservedDisk> {
  // a running QEMU reports the image it has open; qemu-img is a process per disk
  const info =
    b?.image !== undefined
      ? imageFacts(b.image)
      : await imageInfo(d.path as string, d.source?.format);
  return {
    target: d.target,
    source: d.path as string,
    format: d.source?.format ?? info.format,
    virtualSize: info.virtualSize,
    nodeName: active ? (b?.node ?? null) : null,
    bitmapsSupported: info.bitmapsSupported,
    bitmaps: (b?.bitmaps ?? []).map((x) => ({
      name: x.name,
      recording: x.recording,
      persistent: x.persistent,
      inconsistent: x.inconsistent,
      busy: x.busy,
    })),
  };
}

/**
 * The planner's view of libvirt's state. A domain whose QEMU still runs is never shut off, whatever
 * the state says: `crashed` with `on_crash=preserve` after a guest panic, `shutdown` while the
 * guest powers down, `nostate`. Taken for shut off, it got an offline plan whose `qemu-img` hit
 * QEMU's image lock, and a preserved crash failed every night; its vCPUs stopped, it is paused.
 */
export function runState(s: DomainState, active: boolean): DomainRunState {
  if (s === 'running' || s === 'blocked') {
    return 'running';
  }
  if (s === 'paused' || s === 'pmsuspended') {
    return 'paused';
  }
  return active ? 'paused' : 'shut-off';
}

/** Options of {@link LibvirtHypervisor}. */
export interface HypervisorOptions {
  /**
   * The scratch folder of our backup jobs. Given, observing a domain with a backup job running
   * (another tool's, or a live virtvault run's) fails with `BACKUP_JOB_ACTIVE`, before the run's
   * planner could clean up or redefine checkpoints under that job.
   */
  scratchDir?: string;
}

/**
 * A stopped domain's bitmaps are read with qemu-img: its failure (an image gone or unreadable) is
 * `QEMU_IMG_FAILED` with qemu-img's words, not an unnamed exec error.
 */
function imageError(domain: string, e: unknown): unknown {
  if (e instanceof LibvirtError || !(e instanceof Error)) {
    return e;
  }
  const stderr = (e as { stderr?: unknown }).stderr;
  const why = typeof stderr === 'string' && stderr.trim() !== '' ? stderr.trim() : e.message;
  return new EngineError('QEMU_IMG_FAILED', `the disk images of ${domain} cannot be read: ${why}`, {
    cause: e,
  });
}

/** The libvirt adapter of core's `Hypervisor` port. */
export class LibvirtHypervisor implements Hypervisor {
  readonly #conn: Connection;
  readonly #host: string;
  readonly #scratchDir: string | undefined;

  /**
   * @param conn an open libvirt connection (owned by the caller)
   * @param host this host's name, recorded in observations
   * @param options where our jobs live
   */
  constructor(conn: Connection, host: string, options: HypervisorOptions = {}) {
    this.#conn = conn;
    this.#host = host;
    this.#scratchDir = options.scratchDir;
  }

  /** Looks a domain up by name or UUID. */
  domain(nameOrUuid: string): Promise<Domain> {
    return this.#conn.lookupDomain(nameOrUuid);
  }

  /**
   * Names of the domains (running or not) with at least one disk virtvault backs up, sorted: what
   * `backup --all` covers. Domains without one (cdrom only, network disks) are returned apart.
   */
  async backupDomains(): Promise<{ names: string[]; without: string[] }> {
    const names: string[] = [];
    const without: string[] = [];
    for (const d of await this.#conn.listDomains()) {
      const desc = await d.describe().catch((e: unknown) => {
        // gone since the listing (a transient domain powered off): not a reason to hide the rest
        if (isNoDomain(e)) {
          return null;
        }
        throw e;
      });
      if (desc !== null) {
        (desc.disks.some(isBackupDisk) ? names : without).push(desc.name);
      }
    }
    return { names: names.sort(), without: without.sort() };
  }

  /** Observes a domain: state, disks with sizes and bitmaps, checkpoints. */
  async observe(nameOrUuid: string): Promise<ObservedDomain> {
    const domain = await this.domain(nameOrUuid);
    const status = await domain.status();
    if (status.active && this.#scratchDir !== undefined) {
      // a job left behind is fine: the executor ends it before its own
      await staleJobSocket(domain, this.#scratchDir);
    }
    const desc = await domain.describe();
    if (!status.active) {
      for (const d of desc.disks.filter(isBackupDisk)) {
        await assertImageFree(d.path as string, d.source?.format);
      }
    }
    const bitmaps = await diskBitmaps(domain).catch((e: unknown) => {
      throw imageError(desc.name, e);
    });
    const disks: ObservedDisk[] = [];
    for (const d of desc.disks.filter(isBackupDisk)) {
      const b = bitmaps.find((x) => x.target === d.target);
      disks.push(await observeDisk(d, b, status.active));
    }
    const checkpoints = (await domain.checkpoints.list()).map((c) => ({
      name: c.name,
      parent: c.parent ?? null,
    }));
    return {
      host: this.#host,
      domain: {
        uuid: desc.uuid,
        name: desc.name,
        state: runState(status.state, status.active),
        transient: !status.persistent,
      },
      disks,
      checkpoints,
    };
  }

  /**
   * The room of scratch folder `dir` for a backup of `targets`, measured as the backup measures
   * it: each disk's top image and its backing files (what copy-before-write may copy from).
   */
  async scratchRoom(
    domainUuid: string,
    targets: readonly string[],
    dir: string,
  ): Promise<ScratchRoom> {
    const disks = (await (await this.domain(domainUuid)).describe()).disks;
    return scratchRoom(dir, imageFiles(disks.filter((d) => targets.includes(d.target))));
  }

  /** Redefines one checkpoint from the lineage's XML. */
  async redefineCheckpoint(domainUuid: string, action: RedefineAction): Promise<void> {
    const domain = await this.domain(domainUuid);
    await domain.checkpoints.create(withoutCheckpointParent(action.xml), {
      redefine: true,
      redefineValidate: action.validate,
    });
  }

  /** Deletes libvirt's metadata of one checkpoint, leaving the bitmaps. */
  async deleteCheckpointMetadata(domainUuid: string, checkpoint: string): Promise<void> {
    const domain = await this.domain(domainUuid);
    try {
      await domain.checkpoints.delete(checkpoint, { metadataOnly: true });
    } catch (e) {
      // already gone is what a delete wants
      if (!isNoCheckpoint(e)) {
        throw e;
      }
    }
  }

  /** Removes one bitmap: QMP on a running QEMU, qemu-img on a stopped domain's image. */
  async removeBitmap(
    domainUuid: string,
    disk: string,
    bitmap: string,
    via: BitmapRemoval,
  ): Promise<void> {
    const domain = await this.domain(domainUuid);
    if (via === 'qmp') {
      await removeRunningBitmap(domain, disk, bitmap).catch((e: unknown) => {
        // already gone is what a removal wants
        if (!(e instanceof Error && /not found/i.test(e.message))) {
          throw e;
        }
      });
      return;
    }
    const d = (await domain.describe()).disks.find((x) => x.target === disk);
    if (d?.path === undefined) {
      return;
    }
    await qemuImg(bitmapArgs('--remove', d.path, d.source?.format, bitmap));
  }
}

/** A hypervisor adapter with the connection it owns. */
export interface OpenHypervisor {
  /** The adapter. */
  hypervisor: LibvirtHypervisor;
  /** Closes the libvirt connection. Idempotent. */
  close(): Promise<void>;
}

/** Connects to libvirt at `uri` and returns the adapter for this host. */
export async function openHypervisor(
  uri: string,
  host: string,
  options: HypervisorOptions = {},
): Promise<OpenHypervisor> {
  const conn = await connectLibvirt(uri);
  return { hypervisor: new LibvirtHypervisor(conn, host, options), close: () => conn.close() };
}
