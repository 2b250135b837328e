/**
 * `syncfs(2)` of the filesystem holding a folder: the repository's own addon (`native/syncfs.c`),
 * else coreutils' `sync -f` in a child process (an install that could not build the addon).
 * Spawning forks the whole process: a backup's (~250 MiB resident) took 20-35 ms of its event
 * loop per spawn on the lab machine, twice per commit, and then a write fault on every page it
 * touched again.
 */
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';

interface SyncfsAddon {
  syncfs(path: string): Promise<number>;
}

let addon: SyncfsAddon | null | undefined;

/** The addon, loaded on first use; null when it was not built. */
function loadAddon(): SyncfsAddon | null {
  if (addon === undefined) {
    try {
      addon = createRequire(import.meta.url)(
        '../build/Release/virtvault_syncfs.node',
      ) as SyncfsAddon;
    } catch {
      addon = null;
    }
  }
  return addon;
}

/** Which way {@link syncFilesystem} flushes: the addon, or `sync -f` in a child process. */
export function syncfsMethod(): 'addon' | 'sync -f' {
  return loadAddon() === null ? 'sync -f' : 'addon';
}

/**
 * Flushes the filesystem holding `dir`; resolves false when that could not be done (no addon and
 * no `sync`, or the call failed), and the caller then syncs file by file.
 */
export async function syncFilesystem(dir: string): Promise<boolean> {
  const native = loadAddon();
  if (native !== null) {
    return (await native.syncfs(dir)) === 0;
  }
  return new Promise<boolean>((resolve) => {
    execFile('sync', ['-f', dir], (err) => resolve(err === null));
  });
}
