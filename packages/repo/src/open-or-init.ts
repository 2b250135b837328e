/**
 * Opening a repository that a backup may have to make first: a missing or empty folder becomes a
 * new repository, a folder holding anything else is refused, and processes making the same new
 * repository at once all end up using the one that was published first.
 */
import { readdir } from 'node:fs/promises';

import { RepoError } from './errors.js';
import { mayBeBeingCreated, Repository, type InitOptions } from './repository.js';

/**
 * Opens the repository at `root`, or returns null when there is none and `root` is missing, empty
 * or being made by another process right now (a new one may be made there). Throws
 * `REPO_NOT_FOUND` when `root` holds other files, and whatever `open` throws otherwise.
 */
export async function openIfPresent(root: string, opts?: InitOptions): Promise<Repository | null> {
  const repo = new Repository(root, opts);
  try {
    await repo.open();
    return repo;
  } catch (e) {
    if (!(e instanceof RepoError) || e.code !== 'REPO_NOT_FOUND') {
      throw e;
    }
  }
  const entries = await readdir(root).catch(() => [] as string[]);
  if (entries.includes('config.json')) {
    // another process published it between our open and the listing (agents sharing a folder)
    await repo.open();
    return repo;
  }
  if (!mayBeBeingCreated(entries)) {
    throw new RepoError(
      'REPO_NOT_FOUND',
      `${repo.root} is neither empty nor a virtvault repository; not making one there`,
    );
  }
  return null;
}

/**
 * Opens the repository at `root`, making it when {@link openIfPresent} finds none. When another
 * process publishes one there first (`REPO_EXISTS`), that one is opened: both use it.
 */
export async function openOrInit(root: string, opts?: InitOptions): Promise<Repository> {
  const present = await openIfPresent(root, opts);
  if (present !== null) {
    return present;
  }
  try {
    return await Repository.init(root, opts);
  } catch (e) {
    if (!(e instanceof RepoError) || e.code !== 'REPO_EXISTS') {
      throw e;
    }
    const made = new Repository(root, opts);
    await made.open();
    return made;
  }
}
