/**
 * The state directory's lock (`state.lock`, the holder's pid): PGlite serves one process per data
 * directory. Every step is atomic, so two processes starting together never both hold it:
 * - the lock appears with its content (written to a private name, then hard-linked into place;
 *   a link fails if the name exists), so a reader never sees an empty lock and takes it for stale;
 * - a dead holder's lock is moved aside by rename (only one taker wins it) and checked to be the
 *   one found stale before it is dropped (a fresh lock moved aside by a slower taker goes back);
 * - the unlock removes the lock only while it is still its own.
 */
import { linkSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
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

/** Drops the lock of `stale` (a dead pid, or 0 for an unreadable lock) unless it changed meanwhile. */
function dropStale(file: string, stale: number): void {
  const aside = `${file}.stale-${process.pid}`;
  try {
    renameSync(file, aside);
  } catch {
    return; // gone already: someone else took it over
  }
  if (holderOf(aside) !== stale) {
    // a fresh lock taken between our read and the rename: put it back (never over a newer one)
    try {
      linkSync(aside, file);
    } catch {
      // a newer lock is in place; the one moved aside is dropped below
    }
  }
  rmSync(aside, { force: true });
}

/**
 * Takes the state directory's lock. Synchronous (a few tiny syscalls), so the database thread
 * starts at once rather than after whatever module the event loop is busy loading. Returns the
 * unlock; a live holder's lock fails `STATE_LOCKED`, a dead one's is taken over.
 */
export function lockState(dir: string): () => void {
  const file = path.join(dir, 'state.lock');
  for (let attempt = 0; attempt < 3; attempt++) {
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
    if (holder !== null) {
      dropStale(file, holder);
    }
  }
  throw new CliError('STATE_LOCKED', `cannot lock ${dir}: its lock keeps changing hands`, 1);
}
