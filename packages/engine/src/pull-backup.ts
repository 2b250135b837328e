/**
 * Backup of a running domain through a libvirt pull-mode backup job: QEMU serves a point-in-time
 * view of each disk over NBD on a unix socket (with the dirty bitmap for incrementals), the new
 * checkpoint is created atomically with the job, and the job is always ended, on every path.
 */
import { setMaxListeners } from 'node:events';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import {
  buildCheckpointXml,
  buildPullBackupXml,
  DomainXmlFlags,
  isCheckpointInconsistent,
  isNoBackup,
  isNoCheckpoint,
  isOperationTimeout,
  type BackupJobDescription,
  type Domain,
} from '@virtvault/libvirt';
import { runPool, type Consistency } from '@virtvault/core';

import { copyExport } from './disk-copy.js';
import { EngineError } from './errors.js';
import {
  isOurJobSocket,
  liveJobRunner,
  makeJobDir,
  removeJobDir,
  resolveDacLabel,
  sweepDeadJobDirs,
} from './job-dir.js';
import type { BackupJobOptions } from './job-options.js';
import { withQuiesce } from './quiesce.js';
import { checkScratchRoom } from './scratch-space.js';

/** Prefix of the sockets and scratch files of our jobs: a job with it is ours to abort. */
export const JOB_FILE_PREFIX = 'vv-job-';

/** What one backup of a running domain needs. */
export interface PullBackupOptions extends BackupJobOptions {
  /** Disks (targets) to back up. */
  disks: string[];
  /** Disks copied at once. @default 2 */
  diskConcurrency?: number;
}

/** What the job produced, for the manifest. */
export interface PullBackupResult {
  /** The new checkpoint's XML as libvirt describes it (with the domain, for REDEFINE), or null. */
  checkpointXml: string | null;
  /** Domain XML at backup time. */
  domainXml: string;
  /** Consistency of the copied disks. */
  consistency: Consistency;
  /** What the user should know (why only crash-consistent, a failed thaw). */
  notes: string[];
  /**
   * Settles once the job has ended and its files are gone: null, or why the job did not end (the
   * next run ends a job of ours). Never rejects. QEMU takes ~130 ms to tear a finished job's
   * export down; the caller commits the snapshot meanwhile and awaits this before it returns.
   */
  ended: Promise<string | null>;
}

/**
 * The socket of a backup job left on the domain by a virtvault process that died (or by a backup
 * of this one that could not end it), or null when the domain has no job. Throws
 * `BACKUP_JOB_ACTIVE` when the job is someone else's or a virtvault backup still running: nothing
 * may touch the domain's checkpoints then, and we never wait 30 s on libvirt's state lock.
 */
export async function staleJobSocket(domain: Domain, scratchDir: string): Promise<string | null> {
  let job: BackupJobDescription;
  try {
    job = await domain.backupJob();
  } catch (e) {
    if (isNoBackup(e)) {
      return null;
    }
    throw e;
  }
  const socket = job.server?.socket ?? '';
  if (!isOurJobSocket(socket, scratchDir, JOB_FILE_PREFIX)) {
    throw new EngineError(
      'BACKUP_JOB_ACTIVE',
      `domain ${domain.name} already has a backup job (${job.mode}, socket ${socket || 'none'}) ` +
        'that virtvault did not start; end it (virsh domjobabort) or wait for it',
    );
  }
  const dir = path.dirname(socket);
  // flat sockets (before job folders) name no runner: such a job is always left behind
  const runner = dir !== path.resolve(scratchDir) ? await liveJobRunner(dir) : null;
  if (runner !== null) {
    throw new EngineError(
      'BACKUP_JOB_ACTIVE',
      `domain ${domain.name} is being backed up by virtvault right now (process ${runner}); ` +
        'wait for that backup to end',
    );
  }
  return socket;
}

/** Ends a job left behind ({@link staleJobSocket}) and removes its files. */
export async function clearStaleJob(domain: Domain, scratchDir: string): Promise<void> {
  const socket = await staleJobSocket(domain, scratchDir);
  if (socket === null) {
    return;
  }
  await endJob(domain);
  await rm(socket, { force: true });
  if (path.dirname(socket) !== path.resolve(scratchDir)) {
    await removeJobDir(path.dirname(socket));
  }
}

/** The job's folder, its NBD socket and the scratch image of each disk. */
interface JobFiles {
  dir: string;
  socket: string;
  scratch: (target: string) => string;
}

function jobFiles(o: PullBackupOptions): JobFiles {
  const dir = path.join(path.resolve(o.scratchDir), `${JOB_FILE_PREFIX}${o.tag}`);
  return { dir, socket: path.join(dir, 'nbd.sock'), scratch: (t) => path.join(dir, `${t}.qcow2`) };
}

/**
 * Ends a job of ours left behind, checks the scratch folder's room and creates this job's folder,
 * owned by QEMU's user; returns a note on a scratch folder short of room, or null.
 */
async function prepareJob(o: PullBackupOptions, files: JobFiles): Promise<string | null> {
  // One after the other, not side by side: libvirtd 9.0 once died of a segfault (NULL pointer in
  // an RPC thread) ~0.3 s into a run that aborted a dead run's job while it read the domain's XML.
  // The cause is not proven; a few milliseconds of one call more are cheap beside libvirtd.
  await clearStaleJob(o.domain, o.scratchDir);
  const desc = await o.domain.describe();
  await sweepDeadJobDirs(o.scratchDir, JOB_FILE_PREFIX);
  const disks = desc.disks.filter((d) => o.disks.includes(d.target));
  const note = await checkScratchRoom(path.resolve(o.scratchDir), disks);
  const owner = await resolveDacLabel(desc.dacLabel);
  await makeJobDir(files.dir, owner).catch(async (e: unknown) => {
    // e.g. a chown refused on a filesystem that squashes root: no folder is left behind
    await removeJobDir(files.dir);
    throw e;
  });
  return note;
}

async function beginJob(o: PullBackupOptions, socket: string, scratch: (t: string) => string) {
  const backupXml = buildPullBackupXml({
    socket,
    ...(o.incrementalFrom !== null ? { incremental: o.incrementalFrom } : {}),
    disks: o.disks.map((name) => ({
      name,
      scratchFile: scratch(name),
      // a disk without bitmaps in an incremental: libvirt exports it whole
      ...(o.incrementalFrom !== null && o.fullDisks?.includes(name) === true
        ? { backupMode: 'full' as const }
        : {}),
    })),
  });
  const cp = o.newCheckpoint;
  const checkpointXml =
    cp === null
      ? undefined
      : buildCheckpointXml({
          name: cp.name,
          disks: o.disks.map((d) => ({
            name: d,
            checkpoint: cp.disks.includes(d) ? ('bitmap' as const) : ('no' as const),
          })),
        });
  try {
    await o.domain.backupBegin(backupXml, checkpointXml);
  } catch (e) {
    throw startError(o, e);
  }
}

function startError(o: PullBackupOptions, e: unknown): EngineError {
  const msg = e instanceof Error ? e.message : String(e);
  if (isOperationTimeout(e)) {
    return new EngineError('BACKUP_JOB_ACTIVE', `another job holds ${o.domain.name}: ${msg}`, {
      cause: e,
    });
  }
  const rejected =
    isCheckpointInconsistent(e) || isNoCheckpoint(e) || /bitmap .*not found/i.test(msg);
  if (o.incrementalFrom !== null && rejected) {
    return new EngineError('INCREMENTAL_REJECTED', `libvirt rejected the incremental: ${msg}`, {
      cause: e,
    });
  }
  // QEMU (often not root) binds the socket and opens the scratch images in the job's folder
  const hint = /permission denied/i.test(msg)
    ? `; QEMU's user must be able to reach ${path.resolve(o.scratchDir)} (every folder above it ` +
      "searchable by that user), or choose another (--scratch, or the agent's scratchDir)"
    : '';
  return new EngineError(
    'BACKUP_START_FAILED',
    `backup of ${o.domain.name} did not start: ${msg}${hint}`,
    { cause: e },
  );
}

/**
 * Requests in flight per NBD connection to QEMU's backup export, as many as `nbdcopy` keeps. QEMU
 * reads the image for each with O_DIRECT, so the disk sees only what is asked at once: the client's
 * default of 4 (measured best against `qemu-nbd` serving a cached file) left an incremental's
 * scattered 64 KiB reads waiting on the disk. Measured on the bench VM, 4 vs 64 alternating over
 * fresh 5 % change sets: incremental 1.34/1.24/1.34/1.28 -> 1.18/1.22/1.23/1.27 s; a full whose
 * chunks were already stored (reads only), copy 3.27/3.46/3.41 -> 3.12/3.18/3.10 s.
 */
const EXPORT_REQUESTS = 64;

async function copyAll(o: PullBackupOptions, socket: string): Promise<void> {
  const job = await o.domain.backupJob();
  // the first disk to fail stops the others: their bytes would be thrown away, and the job's
  // scratch images grow with the guest's writes for as long as it runs
  const stop = new AbortController();
  const signal = o.signal === undefined ? stop.signal : AbortSignal.any([o.signal, stop.signal]);
  // every NBD request of the copy listens to it
  setMaxListeners(0, signal);
  await runPool(o.disks, o.diskConcurrency ?? 2, async (target) => {
    try {
      await copyOne({ ...o, signal }, job, socket, target);
    } catch (e) {
      stop.abort(e);
      throw e;
    }
  });
}

/** Copies one disk's export of the running job. */
async function copyOne(
  o: PullBackupOptions,
  job: BackupJobDescription,
  socket: string,
  target: string,
): Promise<void> {
  const d = job.disks.find((x) => x.name === target);
  if (d?.exportName === undefined) {
    throw new EngineError('NBD_EXPORT_MISSING', `the backup job exports no disk ${target}`);
  }
  const bitmap = d.exportBitmap !== undefined ? `qemu:dirty-bitmap:${d.exportBitmap}` : null;
  if (o.incrementalFrom !== null && bitmap === null && o.fullDisks?.includes(target) !== true) {
    throw new EngineError('NBD_EXPORT_MISSING', `no dirty bitmap exported for ${target}`);
  }
  await copyExport(o, {
    socket,
    exportName: d.exportName,
    target,
    bitmapContext: bitmap,
    requests: EXPORT_REQUESTS,
  });
}

/**
 * Ends the domain's backup job and waits until libvirt no longer lists it: `abortJob` returns
 * before the job is gone, and a backup begun meanwhile would fail. Asked again after 5 ms, then
 * twice as long each time up to 50 ms: on the lab machine the job is gone ~10 ms after the abort,
 * and a fixed 50 ms wait made every run's end wait for it after the commit was done.
 */
export async function endJob(domain: Domain, timeoutMs = 10_000): Promise<void> {
  await domain.abortJob().catch(() => undefined);
  const deadline = Date.now() + timeoutMs;
  for (let wait = 5; Date.now() < deadline; wait = Math.min(50, wait * 2)) {
    try {
      await domain.backupJob();
    } catch (e) {
      if (isNoBackup(e)) {
        return;
      }
      throw e;
    }
    await sleep(wait);
  }
  throw new EngineError(
    'BACKUP_JOB_NOT_ENDED',
    `the backup job of ${domain.name} was still listed ${timeoutMs / 1000} s after its abort`,
  );
}

/** Deletes a checkpoint a failed run created, so that it can never break the next chain. */
export async function dropCheckpoint(domain: Domain, name: string): Promise<void> {
  try {
    await domain.checkpoints.delete(name);
  } catch {
    // the bitmap may be gone already: at least drop the metadata
    await domain.checkpoints.delete(name, { metadataOnly: true }).catch(() => undefined);
  }
}

/** Runs the pull backup; on failure the job is ended, files removed and the checkpoint dropped. */
export async function pullBackup(o: PullBackupOptions): Promise<PullBackupResult> {
  const files = jobFiles(o);
  const { socket, scratch } = files;
  const removeFiles = (): Promise<void> => removeJobDir(files.dir);
  const roomNote = await prepareJob(o, files);
  // the checkpoint is created atomically with the job, so both see the frozen guest
  const q = await withQuiesce(o.domain, o.quiesce === true, () =>
    beginJob(o, socket, scratch),
  ).catch(async (e: unknown) => {
    await removeFiles();
    throw e;
  });
  let ended: Promise<string | null> | null = null;
  try {
    o.onPhase?.('copying');
    await copyAll(o, socket);
    ended = finishJob(o.domain, removeFiles);
    const [checkpointXml, domainXml] = await Promise.all([
      o.newCheckpoint === null ? null : o.domain.checkpoints.xml(o.newCheckpoint.name),
      o.domain.xml(DomainXmlFlags.MIGRATABLE),
    ]);
    const notes = roomNote === null ? q.notes : [roomNote, ...q.notes];
    return { checkpointXml, domainXml, consistency: q.consistency, notes, ended };
  } catch (e) {
    await ended;
    await endJob(o.domain).catch(() => undefined);
    if (o.newCheckpoint !== null) {
      await dropCheckpoint(o.domain, o.newCheckpoint.name);
    }
    await removeFiles();
    throw e;
  }
}

/** Ends a finished job and removes its files; resolves to null, or why the job did not end. */
async function finishJob(domain: Domain, removeFiles: () => Promise<void>): Promise<string | null> {
  try {
    await endJob(domain);
    return null;
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    return `the backup job of ${domain.name} did not end cleanly (the next run ends it): ${msg}`;
  } finally {
    await removeFiles().catch(() => undefined);
  }
}
