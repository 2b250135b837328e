/**
 * Standalone mode: the agent's engine in-process, the lineage in PGlite under the state directory
 * (or Postgres when DATABASE_URL is set), repositories opened by path.
 */
import path from 'node:path';

import type { LineageStore, ManifestSource, SnapshotManifest, VerifyState } from '@virtvault/core';
import { EmbeddedServer } from '@virtvault/lineage/embedded-server';
import type { Repository } from '@virtvault/repo';
import { makeDirsSync } from '@virtvault/repo/make-dirs';

import type { CliContext } from './context.js';
import { loadLineage, loadRepo } from './lazy.js';
import { CliError } from './output.js';
import { openRepository } from './repo-access.js';
import { lockState } from './state-lock.js';

/** An open lineage store with its owner's close. */
export interface OpenLineage {
  /** The store. */
  store: LineageStore & { close(): Promise<void> };
  /** Closes everything opened for it (store, embedded database, state lock). */
  close(): Promise<void>;
}

/**
 * Starts the embedded database thread on `dataDir`. Its failure surfaces where the promise is
 * awaited, never as an unhandled rejection: a thread that fails while the caller is still loading
 * the lineage package would otherwise end the process before the error is reported.
 */
export function startEmbedded(dataDir: string): Promise<EmbeddedServer> {
  const starting = EmbeddedServer.start({ dataDir });
  starting.catch(() => undefined);
  return starting;
}

/**
 * Opens the lineage: Postgres at DATABASE_URL, else PGlite under `<stateDir>/lineage`, calling
 * `onLocked` as soon as the state directory's lock is held.
 *
 * The embedded database's thread is started before the lineage package is loaded: its start is
 * ~0.3-0.5 s of CPU, and a command's first ~0.3 s (loading its modules, the libvirt library) keep
 * only one core busy, so the two overlap.
 */
export async function openLineage(
  ctx: CliContext,
  stateDir: string,
  onLocked?: () => void,
): Promise<OpenLineage> {
  if (ctx.env.databaseUrl !== undefined) {
    const store = await (await loadLineage()).PgLineageStore.connect({ url: ctx.env.databaseUrl });
    return { store, close: () => store.close() };
  }
  const unlock = takeStateDir(stateDir);
  onLocked?.();
  const starting = startEmbedded(path.join(stateDir, 'lineage'));
  try {
    const { EmbeddedLineage } = await loadLineage().catch(async (e: unknown) => {
      await (await starting.catch(() => null))?.close();
      throw e;
    });
    const db = await EmbeddedLineage.over(await starting);
    return {
      store: db.store,
      close: async () => {
        await db.close();
        unlock();
      },
    };
  } catch (e) {
    unlock();
    throw damagedLineageHint(e, path.join(stateDir, 'lineage'));
  }
}

/**
 * Makes the state directory and takes its lock. A refusal by the system (EACCES for a non-root
 * user under the default /var/lib/virtvault, EROFS, ENOTDIR) is `STATE_UNWRITABLE`, exit 1: the
 * bare errno is no stable code, and it would not say which option to change.
 */
function takeStateDir(stateDir: string): () => void {
  try {
    makeDirsSync(stateDir);
    return lockState(stateDir);
  } catch (e) {
    if (e instanceof CliError || !(e instanceof Error) || !('syscall' in e)) {
      throw e;
    }
    // the root hint only where permission is what failed: a root user told to run as root for a
    // --state that is a file would look in the wrong place
    const denied = ['EACCES', 'EPERM'].includes(String((e as { code?: unknown }).code));
    const hint = denied
      ? 'run as root or pass --state'
      : '--state must be a folder virtvault can write';
    const message = `cannot use --state ${stateDir}: ${e.message} (${hint})`;
    throw new CliError('STATE_UNWRITABLE', message, 1);
  }
}

/**
 * An embedded lineage that does not open (its files damaged) is no dead end: the repositories'
 * manifests hold what it knew, and a new lineage imports them at the first backup of each domain
 * (SNAPSHOT_RECONCILED), chains going on. The error says so.
 */
function damagedLineageHint(e: unknown, dir: string): unknown {
  if (!(e instanceof Error) || (e as { code?: unknown }).code !== 'CONNECT_FAILED') {
    return e;
  }
  const hint =
    `; if its files are damaged, move ${dir} aside (keep it for a bug report) and run again: ` +
    "a new lineage is rebuilt from the repositories' manifests at each domain's next backup";
  return new CliError('LINEAGE_UNREADABLE', `${e.message}${hint}`, 1);
}

/** Repositories opened once per path for the whole command. */
export class RepositoryCache implements ManifestSource {
  readonly #repos = new Map<string, Promise<Repository>>();
  /** Paths {@link prepare} found no repository in, to be made by their first {@link get}. */
  readonly #creatable = new Set<string>();

  /**
   * Opens the repository at `dir` for backups. Where there is none yet and the directory is
   * missing or empty, nothing is made now: the first {@link get} (the backup's, once the domain
   * was found and the run planned) makes it, so a run that fails before that (a mistyped domain,
   * libvirt unreachable) leaves no empty repository behind. A directory holding other files is
   * refused at once (`REPO_NOT_FOUND`).
   */
  async prepare(dir: string): Promise<void> {
    const key = path.resolve(dir);
    if (this.#repos.has(key) || this.#creatable.has(key)) {
      return;
    }
    const repo = await (await loadRepo()).openIfPresent(key);
    if (repo === null) {
      this.#creatable.add(key);
    } else {
      this.#repos.set(key, Promise.resolve(repo));
    }
  }

  /**
   * The repository at `dir` to read, or null where there is none yet (a missing or empty
   * directory, which the first backup makes): nothing is made. Throws `REPO_NOT_FOUND` as
   * {@link prepare} does for a directory holding other files.
   */
  async find(dir: string): Promise<Repository | null> {
    await this.prepare(dir);
    return this.#notMadeYet(dir) ? null : this.get(dir);
  }

  /** Opens the repository at `dir` (making it when {@link prepare} found none there). */
  get(dir: string): Promise<Repository> {
    const key = path.resolve(dir);
    let p = this.#repos.get(key);
    if (p === undefined) {
      p = openRepository(key, this.#creatable.has(key));
      this.#repos.set(key, p);
    }
    return p;
  }

  /** Committed manifests of one domain; a damaged one is left out (the planner takes it as gone). */
  async listManifests(repository: string, domainUuid: string): Promise<SnapshotManifest[]> {
    if (this.#notMadeYet(repository)) {
      return [];
    }
    const repo = await this.get(repository);
    return (await (await loadRepo()).readManifests(repo, domainUuid)).manifests;
  }

  /** Verify results recorded in the repository (`verify.json`) for one domain's snapshots. */
  async verifyResults(repository: string, domainUuid: string): Promise<Map<string, VerifyState>> {
    if (this.#notMadeYet(repository)) {
      return new Map();
    }
    return (await loadRepo()).readVerifyResults(await this.get(repository), domainUuid);
  }

  /** True for a repository still to be made: it holds nothing, and reading it must not make it. */
  #notMadeYet(repository: string): boolean {
    const key = path.resolve(repository);
    return this.#creatable.has(key) && !this.#repos.has(key);
  }

  /** Closes every repository. */
  async close(): Promise<void> {
    const all = [...this.#repos.values()];
    this.#repos.clear();
    for (const p of all) {
      await (await p.catch(() => null))?.close();
    }
  }
}
