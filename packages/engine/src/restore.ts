/**
 * Restore of a snapshot's disks: every chunk's digest checked by the repository's chunk workers,
 * written as qcow2 through qemu-nbd and our NBD client, or as a sparse raw file. Holes stay holes, and so do
 * zeros inside a slot: only data is written.
 */
import { chmodSync } from 'node:fs';
import { mkdtemp, open, rm, rmdir, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { buildRestoredDomainXml, Connection } from '@virtvault/libvirt';
import { hasErrorCode, type SnapshotManifest } from '@virtvault/core';
import { NbdClient, NbdError } from '@virtvault/nbd';
import { makeDirsSync, SnapshotReader, type DiskSlot, type Repository } from '@virtvault/repo';

import { EngineError, interruptedError } from './errors.js';
import { qemuImg } from './qemu-img.js';
import { QemuNbd } from './qemu-nbd.js';

/** Output format of a restored disk. */
export type RestoreFormat = 'qcow2' | 'raw';

/** Progress of one restored disk. */
export interface RestoreProgress {
  /** Disk target. */
  target: string;
  /** Bytes of data written so far (holes excluded). */
  bytesWritten: number;
  /**
   * How far through the disk the restore is, holes included: reaches `virtualSize` at the end,
   * where `bytesWritten` of a sparse disk stays far below it.
   */
  position: number;
  /** The disk's virtual size. */
  virtualSize: number;
}

/** Options of {@link restoreSnapshot}. */
export interface RestoreOptions {
  /** Opened repository. */
  repo: Repository;
  /** Domain UUID. */
  domainUuid: string;
  /** Snapshot id. */
  snapshotId: string;
  /** Directory to write the disks into (`<target>.<format>`). */
  outputDir: string;
  /** Output format. @default 'qcow2' */
  format?: RestoreFormat;
  /** Only these disk targets. @default every disk */
  disks?: string[];
  /** Progress per disk. */
  onProgress?: (p: RestoreProgress) => void;
  /**
   * Stops the restore between slots with `RESTORE_INTERRUPTED`; like any failure, it removes every
   * file the restore wrote and every folder it created.
   */
  signal?: AbortSignal;
  /**
   * A last step inside the all-or-nothing, once every disk is written (defining a domain on
   * them): when it fails, the disks are removed as on any other failure, so the same command can
   * run again.
   */
  complete?: (disks: RestoredDisk[], manifest: SnapshotManifest) => Promise<void>;
}

/** One restored disk. */
export interface RestoredDisk {
  /** Disk target. */
  target: string;
  /** Output file. */
  path: string;
  /** Output format. */
  format: RestoreFormat;
  /** Virtual size in bytes. */
  virtualSize: number;
  /** Bytes of data written (holes excluded). */
  bytesWritten: number;
}

async function refuseExisting(file: string): Promise<void> {
  const exists = await stat(file).then(
    () => true,
    () => false,
  );
  if (exists) {
    throw new EngineError('RESTORE_TARGET_EXISTS', `${file} exists; restore never overwrites`);
  }
}

/** The non-zero slots of a disk; with `writeTo`, the workers write them into that file. */
type Slots = (writeTo?: string) => AsyncIterable<DiskSlot>;

/** Slots being written at once in a qcow2 restore (each holds a shared region until written). */
const SLOTS_IN_FLIGHT = 4;
/** NBD write request size of a qcow2 restore. */
const WRITE_REQUEST = 4 * 1024 * 1024;

function interrupted(signal: AbortSignal): EngineError {
  return interruptedError('RESTORE_INTERRUPTED', 'restore', signal, signal.reason);
}

/**
 * The slots of `it` until `signal` is aborted, then `RESTORE_INTERRUPTED` (slot given back);
 * `onSlot` sees each slot before it is written.
 */
async function* untilAborted(
  it: AsyncIterable<DiskSlot>,
  signal: AbortSignal | undefined,
  onSlot: (s: DiskSlot) => void,
): AsyncIterable<DiskSlot> {
  for await (const s of it) {
    if (signal?.aborted === true) {
      s.release();
      throw interrupted(signal);
    }
    onSlot(s);
    yield s;
  }
}

/** Bytes of data in a slot's runs. */
function runBytes(s: DiskSlot): number {
  return s.runs.reduce((n, r) => n + r.length, 0);
}

/**
 * A sparse raw file: the chunk workers resolve each slot and write its data runs themselves (with
 * O_DIRECT where aligned: a restored disk is written once and not read back soon, and on the lab
 * machine filling fresh page-cache pages cost more than the rest of the restore); this thread
 * only waits, then makes the file durable.
 */
async function restoreRaw(file: string, size: number, slots: Slots, written: (n: number) => void) {
  const fh = await open(file, 'wx');
  try {
    await fh.truncate(size);
    for await (const s of slots(file)) {
      s.release();
      written(runBytes(s));
    }
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Writes each slot's data runs through `write`, up to {@link SLOTS_IN_FLIGHT} slots at once; a
 * slot's region is given back once all its writes are answered (the bytes have left by then).
 */
async function writeSlots(
  slots: AsyncIterable<DiskSlot>,
  write: (offset: number, data: Buffer) => Promise<void>,
  written: (n: number) => void,
): Promise<void> {
  const inFlight = new Set<Promise<void>>();
  let failure: { error: unknown } | null = null;
  for await (const s of slots) {
    const parts = s.runs.map((r) => write(s.offset + r.at, s.data.subarray(r.at, r.at + r.length)));
    const w: Promise<void> = Promise.all(parts).then(
      () => {
        inFlight.delete(w);
        s.release();
        written(runBytes(s));
      },
      (err: unknown) => {
        // the region is not given back: a failed connection may still hold its bytes
        inFlight.delete(w);
        failure ??= { error: err };
      },
    );
    inFlight.add(w);
    while (inFlight.size >= SLOTS_IN_FLIGHT && failure === null) {
      await Promise.race(inFlight);
    }
    if (failure !== null) {
      break;
    }
  }
  await Promise.all(inFlight);
  if (failure !== null) {
    throw (failure as { error: unknown }).error;
  }
}

async function restoreQcow2(
  file: string,
  size: number,
  slots: Slots,
  written: (n: number) => void,
) {
  await qemuImg(['create', '-q', '-f', 'qcow2', file, String(size)]);
  // a folder of its own under the system's temp folder, not next to the output: a unix socket's
  // path is limited to 107 bytes, which an output folder may well pass
  const sockDir = await mkdtemp(path.join(tmpdir(), 'vv-restore-'));
  try {
    await writeThroughQemuNbd(file, path.join(sockDir, 'nbd.sock'), slots, written);
  } finally {
    // also removes a socket left by a qemu-nbd that failed to start
    await rm(sockDir, { recursive: true, force: true });
  }
}

async function writeThroughQemuNbd(
  file: string,
  socket: string,
  slots: Slots,
  written: (n: number) => void,
): Promise<void> {
  const server = await QemuNbd.start({
    image: file,
    format: 'qcow2',
    socket,
    exportName: 'restore',
    readOnly: false,
  });
  try {
    // Whole-slot writes: with qemu's 256 KiB default a fresh qcow2 took twice as long (22 -> 11 s
    // for 2.3 GiB of data); the client caps this at the server's maximum block size.
    const nbd = await NbdClient.connect({
      socket,
      exportName: 'restore',
      requestSize: WRITE_REQUEST,
    });
    try {
      await writeSlots(slots(), (offset, data) => nbd.write(offset, data), written);
      await nbd.flush();
    } finally {
      await nbd.close();
    }
  } finally {
    await server.close();
  }
}

/**
 * `RESTORE_NO_SPACE` when `e` says the output's filesystem is full: the chunk workers writing a raw
 * file report it as the repository's `REPO_NO_SPACE` (they only write the output in a restore),
 * and qemu-nbd writing a qcow2 one as the server error `NBD_ENOSPC`; null for anything else.
 */
function noSpaceError(e: unknown, dir: string, target: string): EngineError | null {
  const nbd = e instanceof NbdError && e.errnoName === 'NBD_ENOSPC';
  if (!nbd && !hasErrorCode(e, 'REPO_NO_SPACE')) {
    return null;
  }
  // the workers' message speaks of the repository and of backups: only its errno text is kept
  const errno = /\((E[A-Z]+: [^)]*)\)/.exec(e instanceof Error ? e.message : '')?.[1];
  return new EngineError(
    'RESTORE_NO_SPACE',
    `${dir} has no room left for disk ${target}${errno !== undefined ? ` (${errno})` : ''}: ` +
      'its partial file is removed; free space there or restore somewhere else',
    nbd ? { cause: e } : {},
  );
}

/** The snapshot's disks named by `wanted` (all without it); a name it lacks is an error. */
function selectDisks<D extends { target: string }>(disks: D[], wanted?: readonly string[]): D[] {
  if (wanted === undefined) {
    return disks;
  }
  const unknown = wanted.filter((t) => !disks.some((d) => d.target === t));
  if (unknown.length > 0) {
    const has = disks.map((d) => d.target).join(', ');
    throw new EngineError(
      'RESTORE_DISK_UNKNOWN',
      `the snapshot has no disk ${unknown.join(', ')} (it has ${has})`,
    );
  }
  return disks.filter((d) => wanted.includes(d.target));
}

/** Restores one disk of the snapshot `reader` reads into `file`. */
async function restoreDisk(
  o: RestoreOptions,
  reader: SnapshotReader,
  d: { target: string; virtualSize: number },
  file: string,
  format: 'qcow2' | 'raw',
): Promise<RestoredDisk> {
  const progress = { target: d.target, bytesWritten: 0, position: 0, virtualSize: d.virtualSize };
  const slots: Slots = (writeTo) =>
    untilAborted(
      reader.readSlots(d.target, writeTo === undefined ? {} : { writeTo }),
      o.signal,
      (s) => (progress.position = s.offset),
    );
  const written = (n: number): void => {
    progress.bytesWritten += n;
    o.onProgress?.(progress);
  };
  try {
    await (format === 'raw' ? restoreRaw : restoreQcow2)(file, d.virtualSize, slots, written);
  } catch (e) {
    throw noSpaceError(e, o.outputDir, d.target) ?? e;
  }
  progress.position = d.virtualSize;
  o.onProgress?.(progress);
  const { position: _p, ...result } = progress;
  return { ...result, path: file, format };
}

/** Removes what a failed restore made: its files, then the folders it created, if empty. */
async function undo(files: readonly string[], dirs: readonly string[]): Promise<void> {
  for (const f of files) {
    await rm(f, { force: true });
  }
  for (const d of [...dirs].reverse()) {
    await rmdir(d).catch(() => undefined);
  }
}

/**
 * Restores the disks of a snapshot into `outputDir`, all of them or nothing: on a failure every
 * file it wrote and every folder it created is removed, so the same restore can simply be run
 * again (a disk restored before the failure would otherwise be refused as an existing file).
 */
export async function restoreSnapshot(o: RestoreOptions): Promise<RestoredDisk[]> {
  const reader = new SnapshotReader(o.repo, o.domainUuid, o.snapshotId);
  await reader.open();
  const format = o.format ?? 'qcow2';
  const files: string[] = [];
  let created: string[] = [];
  try {
    const disks = selectDisks(reader.manifest.disks, o.disks);
    // every target checked before the first is written: not after hours of restoring the others
    for (const d of disks) {
      await refuseExisting(path.join(o.outputDir, `${d.target}.${format}`));
    }
    // searchable, not listable, whatever the umask (the agent's unit has 0077): an unprivileged
    // QEMU of a domain defined on these disks must pass through to them
    created = makeDirsSync(o.outputDir);
    for (const dir of created) {
      chmodSync(dir, 0o711);
    }
    const out: RestoredDisk[] = [];
    for (const d of disks) {
      if (o.signal?.aborted === true) {
        throw interrupted(o.signal);
      }
      const file = path.join(o.outputDir, `${d.target}.${format}`);
      // checked again just before: only a file this restore creates is ever removed by it
      await refuseExisting(file);
      files.push(file);
      out.push(await restoreDisk(o, reader, d, file, format));
    }
    await o.complete?.(out, reader.manifest);
    return out;
  } catch (e) {
    await undo(files, created);
    throw e;
  } finally {
    await reader.close();
  }
}

/**
 * Throws `RESTORE_TARGET_EXISTS` when libvirt at `uri` has a domain called `name`: checked before
 * a restore whose disks the new domain would use, not hours later once they are written.
 */
export async function assertDomainNameFree(uri: string, name: string): Promise<void> {
  const conn = await Connection.connect(uri);
  try {
    await refuseTakenName(conn, name);
  } finally {
    await conn.close();
  }
}

async function refuseTakenName(conn: Connection, name: string): Promise<void> {
  const existing = await conn.lookupByName(name).then(
    () => true,
    () => false,
  );
  if (existing) {
    throw new EngineError('RESTORE_TARGET_EXISTS', `a domain named ${name} exists already`);
  }
}

/**
 * Defines a new domain `name` from a snapshot's domain XML with the restored disks (new UUID, new
 * MAC addresses); the original domain is never touched. Returns the new domain's UUID.
 */
export async function defineRestoredDomain(
  uri: string,
  domainXml: string,
  name: string,
  disks: readonly RestoredDisk[],
): Promise<string> {
  const xml = buildRestoredDomainXml(
    domainXml,
    name,
    disks.map((d) => ({ target: d.target, file: d.path, format: d.format })),
  );
  const conn = await Connection.connect(uri);
  try {
    // checked again: a domain of that name may have been defined while the disks were written
    await refuseTakenName(conn, name);
    return (await conn.defineDomain(xml)).uuid;
  } finally {
    await conn.close();
  }
}
