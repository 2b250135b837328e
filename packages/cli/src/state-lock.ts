/**
 * The state directory's lock (`state.lock`: the holder's pid, boot id and start time): PGlite
 * serves one process per data directory. Every step is atomic, so two processes starting together
 * never both hold it:
 * - the lock appears with its content (written to a private name, then hard-linked into place;
 *   a link fails if the name exists), so a reader never sees an empty lock and takes it for stale;
 * - a dead holder's lock is removed by one taker at a time (a second lock serializes them), which
 *   reads it again first, so a lock a live process took meanwhile is never removed;
 * - the unlock removes the lock only while it is still its own.
 */
import { linkSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';

import { CliError } from './output.js';

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: alive, another user's
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** This boot's id: a lock written before a reboot names a process of another boot. */
function bootId(): string {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return '-';
  }
}

/** State and start time (clock ticks since boot) of process `pid`, from /proc; null if unknown. */
function procStat(pid: number): { state: string; start: string } | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // the command name (field 2) may hold spaces and parentheses: fields count from its end
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    const [state, start] = [fields[0], fields[19]];
    return state !== undefined && start !== undefined ? { state, start } : null;
  } catch {
    return null;
  }
}

/** Our lock's content: pid, boot id and start time, so a reused pid is told from its holder. */
function ownLine(): string {
  return `${process.pid} ${bootId()} ${procStat(process.pid)?.start ?? '-'}`;
}

/** The pid a lock line names (0 for an unreadable one). */
function pidOf(line: string): number {
  const pid = Number(line.split(' ')[0]);
  return Number.isInteger(pid) && pid > 0 ? pid : 0;
}

/**
 * True while the process a lock line names lives. A line of another boot, or whose pid now
 * belongs to a process started at another time (the pid reused after a SIGKILL, an OOM kill or a
 * power loss: a qemu may hold it for months), or to a zombie, names a dead holder. A bare pid (a
 * lock of an older version) is checked by the pid alone.
 */
function holderAlive(line: string): boolean {
  const pid = pidOf(line);
  if (pid === 0 || !pidAlive(pid)) {
    return false;
  }
  const [, boot, start] = line.split(' ');
  if (boot !== undefined && boot !== '-' && boot !== bootId()) {
    return false;
  }
  const st = procStat(pid);
  if (st === null) {
    return true; // no /proc to ask: the signal said it lives
  }
  return st.state !== 'Z' && (start === undefined || start === '-' || start === st.start);
}

/** The lock's line, or null when there is no lock. */
function holderOf(file: string): string | null {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    return null; // no lock
  }
}

/** Puts `file` in place with our line, atomically; false when a lock exists. */
function tryCreate(file: string): boolean {
  const own = `${file}.${process.pid}`;
  writeFileSync(own, `${ownLine()}\n`);
  try {
    linkSync(own, file);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') {
      return false;
    }
    throw e;
  } finally {
    rmSync(own, { force: true });
  }
}

/** Blocks the thread for `ms` (lockState is synchronous; waits are a few milliseconds). */
function pause(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Removes the lock whose line is `stale` (a dead holder's) if it is still that one.
 * Takers are serialized by a second lock (`state.lock.takeover`, made like the first): the one
 * that holds it reads the lock again before removing it, so a lock taken meanwhile by a live
 * process is never removed. A taker that died holding it (a window of a few syscalls) is
 * recognized by its pid. Returns false when another process is taking over right now.
 */
function dropStale(file: string, stale: string): boolean {
  const guard = `${file}.takeover`;
  if (!tryCreate(guard)) {
    const taker = holderOf(guard);
    if (taker !== null && !holderAlive(taker)) {
      rmSync(guard, { force: true });
    }
    return false;
  }
  try {
    if (holderOf(file) === stale) {
      rmSync(file, { force: true });
    }
  } finally {
    rmSync(guard, { force: true });
  }
  return true;
}

/**
 * Takes the state directory's lock. Synchronous (a few tiny syscalls), so the database thread
 * starts at once rather than after whatever module the event loop is busy loading. Returns the
 * unlock; a live holder's lock fails `STATE_LOCKED`, a dead one's is taken over.
 */
export function lockState(dir: string): () => void {
  const file = path.join(dir, 'state.lock');
  for (let attempt = 0; attempt < 100; attempt++) {
    if (tryCreate(file)) {
      const mine = ownLine();
      return () => {
        if (holderOf(file) === mine) {
          rmSync(file, { force: true });
        }
      };
    }
    const holder = holderOf(file);
    if (holder !== null && holderAlive(holder)) {
      throw new CliError(
        'STATE_LOCKED',
        `another virtvault process (pid ${pidOf(holder)}) is using the state directory ${dir}; ` +
          'wait for it, or give each concurrent run its own --state, or use DATABASE_URL',
        1,
      );
    }
    if (holder !== null && !dropStale(file, holder)) {
      pause(10); // another process is taking the dead holder's lock over: see who wins
    }
  }
  throw new CliError('STATE_LOCKED', `cannot lock ${dir}: its lock keeps changing hands`, 1);
}
