/**
 * Restore of a snapshot's disks: every chunk's digest checked by the repository's chunk workers,
 * written as qcow2 through qemu-nbd and our NBD client, or as a sparse raw file. Holes stay holes, and so do
 * zeros inside a slot: only data is written.
 */
import { chmodSync } from 'node:fs';
import { link, mkdtemp, open, rename, rm, rmdir, stat } from 'node:fs/promises';
import path from 'node:path';

import type { Connection } from '@virtvault/libvirt';
import { buildRestoredDomain } from '@virtvault/libvirt';
import { hasErrorCode, type SnapshotManifest } from '@virtvault/core';
import { NbdError } from '@virtvault/nbd';
import {
  fsyncDir,
  makeDirsSync,
  SnapshotReader,
  type DiskSlot,
  type Repository,
} from '@virtvault/repo';

import { EngineError, interruptedError } from './errors.js';
import { connectLibvirt } from './libvirt-connect.js';
import { restoreQcow2, runBytes } from './restore-qcow2.js';

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

/** The errnos of an output filesystem out of room: full, over quota, or a file past its limit. */
const NO_SPACE_ERRNOS: readonly string[] = ['ENOSPC', 'EDQUOT', 'EFBIG'];
/** The same, as qemu-img says them (strerror). */
const NO_SPACE_TEXT = /No space left on device|Disk quota exceeded|File too large/i;

/**
 * `RESTORE_NO_SPACE` when `e` says the output's filesystem is full: the chunk workers writing a raw
 * file report it as the repository's `REPO_NO_SPACE` (they only write the output in a restore),
 * qemu-nbd writing a qcow2 one as the server error `NBD_ENOSPC`, `qemu-img create` in its own
 * words, and this thread's own calls (a raw file's size set, its final flush) as a system error;
 * null for anything else.
 */
function noSpaceError(e: unknown, dir: string, target: string): EngineError | null {
  const message = e instanceof Error ? e.message : '';
  const errnoCode = (e as { code?: unknown } | null)?.code;
  const system = typeof errnoCode === 'string' && NO_SPACE_ERRNOS.includes(errnoCode);
  const nbd = e instanceof NbdError && e.errnoName === 'NBD_ENOSPC';
  const img = hasErrorCode(e, 'QEMU_IMG_FAILED') && NO_SPACE_TEXT.test(message);
  if (!system && !nbd && !img && !hasErrorCode(e, 'REPO_NO_SPACE')) {
    return null;
  }
  // the workers' message speaks of the repository and of backups: only its errno text is kept
  const errno = system
    ? message
    : (/\((E[A-Z]+: [^)]*)\)/.exec(message)?.[1] ?? NO_SPACE_TEXT.exec(message)?.[0]);
  return new EngineError(
    'RESTORE_NO_SPACE',
    `${dir} has no room left for disk ${target}${errno !== undefined ? ` (${errno})` : ''}: ` +
      'its partial file is removed; free space there or restore somewhere else',
    { cause: e },
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
    await (format === 'raw'
      ? restoreRaw(file, d.virtualSize, slots, written)
      : restoreQcow2(file, d.virtualSize, slots(), written));
  } catch (e) {
    throw noSpaceError(e, o.outputDir, d.target) ?? e;
  }
  progress.position = d.virtualSize;
  o.onProgress?.(progress);
  const { position: _p, ...result } = progress;
  return { ...result, path: file, format };
}

/** Removes what a failed restore made: the disks it placed, its work folder, the folders it made. */
async function undo(placed: readonly string[], work: string | null, dirs: readonly string[]) {
  for (const f of placed) {
    await rm(f, { force: true });
  }
  if (work !== null) {
    await rm(work, { recursive: true, force: true });
  }
  for (const d of [...dirs].reverse()) {
    await rmdir(d).catch(() => undefined);
  }
}

/** Errors of a filesystem without hard links (some SMB/CIFS and FUSE mounts). */
const NO_LINKS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS']);

/**
 * Gives the written disk `from` its final name `to`, never replacing a file there (`link` fails
 * with EEXIST where `rename` would replace); where there are no hard links, checks and renames.
 */
async function place(from: string, to: string): Promise<void> {
  try {
    await link(from, to);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') {
      throw new EngineError('RESTORE_TARGET_EXISTS', `${to} exists; restore never overwrites`);
    }
    if (code === undefined || !NO_LINKS.has(code)) {
      throw e;
    }
    await refuseExisting(to);
    await rename(from, to);
  }
}

/**
 * Restores the disks of a snapshot into `outputDir`, all of them or nothing: on a failure every
 * file it wrote and every folder it created is removed, so the same restore can simply be run
 * again (a disk restored before the failure would otherwise be refused as an existing file).
 * The disks are written in a folder of its own (`.restoring-*` in `outputDir`) and take their
 * names only once all of them are written and durable: a restore killed midway (SIGKILL, a crash)
 * leaves that folder, never a partial disk under the name of a good one.
 */
export async function restoreSnapshot(o: RestoreOptions): Promise<RestoredDisk[]> {
  const reader = new SnapshotReader(o.repo, o.domainUuid, o.snapshotId);
  await reader.open();
  const format = o.format ?? 'qcow2';
  const placed: string[] = [];
  let work: string | null = null;
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
    // a unique, exclusively created folder: two restores into one folder never share a file
    work = await mkdtemp(path.join(o.outputDir, '.restoring-'));
    const out: RestoredDisk[] = [];
    for (const d of disks) {
      if (o.signal?.aborted === true) {
        throw interrupted(o.signal);
      }
      out.push(await restoreDisk(o, reader, d, path.join(work, `${d.target}.${format}`), format));
    }
    for (const disk of out) {
      const final = path.join(o.outputDir, path.basename(disk.path));
      await place(disk.path, final);
      placed.push(final);
      disk.path = final;
    }
    await rm(work, { recursive: true, force: true });
    work = null;
    // the repository's: best effort where a filesystem (some NFS clients) refuses to sync folders
    await fsyncDir(o.outputDir);
    await o.complete?.(out, reader.manifest);
    return out;
  } catch (e) {
    await undo(placed, work, created);
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
  const conn = await connectLibvirt(uri);
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
 * MAC addresses); the original domain is never touched, nor any host resource of its (see
 * `buildRestoredDomain`: `onChanges` hears one line per device left out or changed, before the
 * definition). Returns the new domain's UUID.
 */
export async function defineRestoredDomain(
  uri: string,
  domainXml: string,
  name: string,
  disks: readonly RestoredDisk[],
  onChanges?: (changes: readonly string[]) => void,
): Promise<string> {
  const { xml, changes } = buildRestoredDomain(
    domainXml,
    name,
    disks.map((d) => ({ target: d.target, file: d.path, format: d.format })),
  );
  onChanges?.(changes);
  const conn = await connectLibvirt(uri);
  try {
    // checked again: a domain of that name may have been defined while the disks were written
    await refuseTakenName(conn, name);
    return (await conn.defineDomain(xml)).uuid;
  } finally {
    await conn.close();
  }
}
