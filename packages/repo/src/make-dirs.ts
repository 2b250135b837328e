/**
 * `mkdir -p` for folders a user names (a repository, a restore's output, the CLI's state). Light on
 * purpose (node's own modules only): the CLI imports it before it loads anything heavy.
 */
import { mkdirSync, statSync } from 'node:fs';
import path from 'node:path';

import { isErrno } from './errors.js';

/** Whether something exists at `p` (a path through a file does not exist: ENOTDIR). */
function exists(p: string): boolean {
  try {
    return statSync(p, { throwIfNoEntry: false }) !== undefined;
  } catch (e) {
    if (isErrno(e, 'ENOTDIR')) {
      return false;
    }
    throw e;
  }
}

/**
 * Creates `dir` and its missing parents, one by one from its nearest existing ancestor; the first
 * failure is thrown as the system reports it (ENOTDIR under a file, EACCES, ENOENT where the
 * filesystem takes no folders). Node's recursive `mkdir` instead spins forever where `mkdir` fails
 * with ENOENT under a parent that exists: `virtvault backup --repo /proc/x` hung at 80 % CPU.
 * Returns the folders it created, outermost first.
 */
export function makeDirsSync(dir: string, mode?: number): string[] {
  const missing: string[] = [];
  for (let at = path.resolve(dir); !exists(at); at = path.dirname(at)) {
    missing.push(at);
    if (path.dirname(at) === at) {
      break;
    }
  }
  const created: string[] = [];
  for (const d of missing.reverse()) {
    try {
      mkdirSync(d, mode);
      created.push(d);
    } catch (e) {
      // created meanwhile by someone else: fine when it is a folder
      if (!isErrno(e, 'EEXIST') || !statSync(d).isDirectory()) {
        throw e;
      }
    }
  }
  return created;
}
