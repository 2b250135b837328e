/**
 * How the embedded lineage starts PGlite, shared by the opening process, the first-start child and
 * the template generator so that all three produce and open the same kind of cluster.
 */
import { PGlite, type PGliteOptions } from '@electric-sql/pglite';

/**
 * Postgres's default 128 MB of shared buffers is allocated and touched inside PGlite's wasm memory at
 * every start; a single host's lineage is a few thousand rows. Measured on an opened store: start
 * 1.2 -> 0.7 s, peak RSS 293 -> 156 MiB.
 */
const SMALL_FOOTPRINT = ['-c', 'shared_buffers=8MB'];

/** PGlite options of every embedded lineage instance. */
export function pgliteOptions(): PGliteOptions {
  return { startParams: [...PGlite.defaultStartParams, ...SMALL_FOOTPRINT] };
}

/**
 * Runs PGlite's own initdb into `dir` and shuts the cluster down cleanly. Costs ~650 MiB peak RSS
 * (a second wasm instance, a copy of its heap, the data directory as an in-memory tar), which is
 * why only a child process or the template generator calls it.
 */
export async function initdbInProcess(dir: string): Promise<void> {
  const db = await PGlite.create(dir, pgliteOptions());
  await db.close();
}
