/**
 * The state directory's lock (`state.lock`, the holder's pid): PGlite serves one process per data
 * directory. Every step is atomic, so two processes starting together never both hold it:
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

function holderOf(file: string): number | null {
  try {
    const pid = Number(readFileSync(file, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : 0;
  } catch {
    return null; // no lock
  }
}

/** Puts `file` in place with our pid, atomically; false when a lock exists. */
function tryCreate(file: string): boolean {
  const own = `${file}.${process.pid}`;
  writeFileSync(own, `${process.pid}\n`);
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
 * Removes the lock of `stale` (a dead pid, or 0 for an unreadable lock) if it is still that one.
 * Takers are serialized by a second lock (`state.lock.takeover`, made like the first): the one
 * that holds it reads the lock again before removing it, so a lock taken meanwhile by a live
 * process is never removed. A taker that died holding it (a window of a few syscalls) is
 * recognized by its pid. Returns false when another process is taking over right now.
 */
function dropStale(file: string, stale: number): boolean {
  const guard = `${file}.takeover`;
  if (!tryCreate(guard)) {
    const taker = holderOf(guard);
    if (taker !== null && (taker === 0 || !pidAlive(taker))) {
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
      return () => {
        if (holderOf(file) === process.pid) {
          rmSync(file, { force: true });
        }
      };
    }
    const holder = holderOf(file);
    if (holder !== null && holder > 0 && pidAlive(holder)) {
      throw new CliError(
        'STATE_LOCKED',
        `another virtvault process (pid ${holder}) is using the state directory ${dir}; ` +
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
