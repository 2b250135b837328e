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

/**
 * PGlite as the lineage serves it: the wire protocol passed through to Postgres by pglite-socket,
 * never PGlite's own `query()`, whose array parsers are all that `_initArrayTypes` prepares. That
 * catalog query is the last step of every start; measured on the bench's lineage (an opened store,
 * 3 alternating pairs): start 548-622 -> 436-551 ms, CPU 632-683 -> 520-582 ms; with
 * `fetch_types: false` in the store, an open of the store went from 2.86 to 2.76 G instructions
 * (callgrind).
 */
class ServedPGlite extends PGlite {
  /** Skipped: see the class. */
  override async _initArrayTypes(): Promise<void> {
    // nothing to prepare
  }
}

/**
 * Starts PGlite with the options of every embedded lineage instance on `dataDir` (or in memory,
 * from `extra.loadDataDir` when given) and waits until it is ready.
 */
export async function startPGlite(
  dataDir: string | undefined,
  extra: Pick<PGliteOptions, 'loadDataDir'> = {},
): Promise<PGlite> {
  const options = { ...pgliteOptions(), ...extra };
  const db = dataDir === undefined ? new ServedPGlite(options) : new ServedPGlite(dataDir, options);
  await db.waitReady;
  return db;
}

/** PGlite options of every embedded lineage instance. */
function pgliteOptions(): PGliteOptions {
  return { startParams: [...PGlite.defaultStartParams, ...SMALL_FOOTPRINT] };
}

/**
 * Runs PGlite's own initdb into `dir` and shuts the cluster down cleanly. Costs ~650 MiB peak RSS
 * (a second wasm instance, a copy of its heap, the data directory as an in-memory tar), which is
 * why only a child process or the template generator calls it.
 */
export async function initdbInProcess(dir: string): Promise<void> {
  const db = await startPGlite(dir);
  await db.close();
}
