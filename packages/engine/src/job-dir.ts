/**
 * The private folder of one pull-backup job (its NBD socket and scratch images), owned by the user
 * QEMU runs as: QEMU itself creates the socket, and on a stock host (libvirt-daemon-system) it runs
 * unprivileged, so a folder of root's refused the bind ("Failed to bind socket ... Permission
 * denied") and every backup failed at its start.
 */
import {
  chownSync,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';

/** Numeric owner of a job folder. */
export interface JobDirOwner {
  uid: number;
  gid: number;
}

/** Where {@link resolveDacLabel} looks names up. */
export interface IdFiles {
  /** @default '/etc/passwd' */
  passwd?: string;
  /** @default '/etc/group' */
  group?: string;
}

/** The id of `name` in a passwd or group file (`name:x:id:...`), or null. */
function lookUp(file: string, name: string): number | null {
  for (const line of file.split('\n')) {
    const f = line.split(':');
    if (f[0] === name && f[2] !== undefined && /^\d+$/.test(f[2])) {
      return Number(f[2]);
    }
  }
  return null;
}

async function resolveId(spec: string, file: string): Promise<number | null> {
  // libvirt writes dynamic labels as `+107`; a static label may name the user or group
  const num = /^\+?(\d+)$/.exec(spec);
  if (num?.[1] !== undefined) {
    return Number(num[1]);
  }
  const text = await readFile(file, 'utf8').catch(() => '');
  return lookUp(text, spec);
}

/**
 * Resolves a DAC label (`+107:+108`, `libvirt-qemu:kvm`) to ids; null when a name is unknown here
 * (the folder then stays root's, as before).
 */
export async function resolveDacLabel(
  label: { user: string; group: string } | undefined,
  files: IdFiles = {},
): Promise<JobDirOwner | null> {
  if (label === undefined) {
    return null;
  }
  const [uid, gid] = await Promise.all([
    resolveId(label.user, files.passwd ?? '/etc/passwd'),
    resolveId(label.group, files.group ?? '/etc/group'),
  ]);
  return uid === null || gid === null ? null : { uid, gid };
}

/** Job folders of the backups running in this process (an agent runs several at once). */
const runningHere = new Set<string>();

/** File in a job folder naming the process that runs the job: `<pid> <start time>`. */
const RUNNER_FILE = 'runner';

/** A process's start time (clock ticks since boot), which tells it from a later one with its pid. */
async function processStart(pid: number): Promise<string | null> {
  return startField(await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => null));
}

/** Field 22 of a `/proc/<pid>/stat` line; counted after the command name (spaces, parentheses). */
function startField(stat: string | null): string | null {
  return stat?.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
}

/** This process's start time, as {@link processStart} reads it (null without `/proc`). */
function ownStart(): string | null {
  try {
    return startField(readFileSync('/proc/self/stat', 'utf8'));
  } catch {
    return null;
  }
}

/**
 * Creates the job folder (mode 0700: the scratch images hold guest data), records this process
 * as its runner and hands it to `owner`. A folder left by an earlier attempt is replaced. Built
 * under a dot name and renamed into place: another process's sweep never sees it without its
 * runner (it would take it for a dead one's). The folder's own calls are synchronous: a handful of
 * metadata calls, each of which waited ~5 ms for a turn of an event loop that the backup's start
 * keeps busy (37 ms in all, measured on an incremental, against well under 1 ms).
 */
export async function makeJobDir(dir: string, owner: JobDirOwner | null): Promise<void> {
  runningHere.add(dir);
  const building = path.join(path.dirname(dir), `.${path.basename(dir)}`);
  // an earlier attempt's folder may hold scratch images of any size: removed off the event loop
  for (const left of [dir, building]) {
    if (existsSync(left)) {
      await rm(left, { recursive: true, force: true });
    }
  }
  mkdirSync(building, { mode: 0o700 });
  runningHere.add(building);
  try {
    writeFileSync(path.join(building, RUNNER_FILE), `${process.pid} ${ownStart()}\n`);
    if (owner !== null && (owner.uid !== process.getuid?.() || owner.gid !== process.getgid?.())) {
      chownSync(building, owner.uid, owner.gid);
    }
    renameSync(building, dir);
  } catch (e) {
    rmSync(building, { recursive: true, force: true });
    throw e;
  } finally {
    runningHere.delete(building);
  }
}

/** Removes a job folder of this process (its job has ended). */
export async function removeJobDir(dir: string): Promise<void> {
  runningHere.delete(dir);
  await rm(dir, { recursive: true, force: true });
}

/**
 * The pid of the virtvault process still running the job of `dir`, or null when the job was left
 * behind: its process died (or is a later one with the same pid), or it is this process and the
 * backup that began it is over.
 */
export async function liveJobRunner(dir: string): Promise<number | null> {
  if (runningHere.has(dir)) {
    return process.pid;
  }
  const text = await readFile(path.join(dir, RUNNER_FILE), 'utf8').catch(() => '');
  const [pidText, started] = text.trim().split(' ');
  const pid = Number(pidText);
  if (!Number.isInteger(pid) || pid <= 0) {
    return null;
  }
  if (pid === process.pid) {
    return null; // ours, and no backup of this process runs it any more
  }
  return started !== undefined && (await processStart(pid)) === started ? pid : null;
}

/** Whether `socket` is a job socket of ours under `scratchDir` (this layout or the flat one). */
export function isOurJobSocket(socket: string, scratchDir: string, prefix: string): boolean {
  const root = path.resolve(scratchDir);
  const dir = path.dirname(socket);
  if (dir === root) {
    // before job folders: <scratch>/vv-job-<tag>.sock
    return path.basename(socket).startsWith(prefix);
  }
  return path.dirname(dir) === root && path.basename(dir).startsWith(prefix);
}

/**
 * Removes the job folders under `scratchDir` whose runner is gone: left by a crash with QEMU gone
 * too (a host's reboot), no job names them any more and nothing else would remove them, scratch
 * images included. A job still on its domain loses nothing: the next backup of that domain ends
 * it all the same.
 */
export async function sweepDeadJobDirs(scratchDir: string, prefix: string): Promise<string[]> {
  const root = path.resolve(scratchDir);
  const entries = await readdir(root, { withFileTypes: true }).catch(() => []);
  const removed: string[] = [];
  for (const e of entries) {
    const dir = path.join(root, e.name);
    // only complete folders: one being built (a dot name) has no runner yet
    if (e.isDirectory() && e.name.startsWith(prefix) && (await liveJobRunner(dir)) === null) {
      await rm(dir, { recursive: true, force: true });
      removed.push(dir);
    }
  }
  return removed;
}
