/**
 * The embedded lineage for single-host use: PGlite (Postgres in WASM) in-process, served on
 * 127.0.0.1 by pglite-socket, used through the same `PgLineageStore` and SQL as a server.
 *
 * pglite-socket shares one backend session between connections, so the store uses one connection
 * (`max: 1`) and the server accepts one. One process per data directory: PGlite is not
 * multi-process safe (the CLI must hold a lock on its state directory).
 */
import { readFile } from 'node:fs/promises';

import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';

import { findTemplate, prepareDataDir } from './data-dir.js';
import { LineageError } from './errors.js';
import { PgLineageStore } from './pg-lineage-store.js';
import { pgliteOptions } from './pglite-start.js';

/** Options of the embedded lineage. */
export interface EmbeddedLineageOptions {
  /** Data directory; omitted = in memory (tests). */
  dataDir?: string;
}

/** PGlite + socket server + store, opened and closed together. */
export class EmbeddedLineage {
  #closed = false;

  private constructor(
    /** The store (migrated). */
    readonly store: PgLineageStore,
    private readonly server: PGLiteSocketServer,
    private readonly db: PGlite,
    /** The `postgres://` URL the socket serves. */
    readonly url: string,
  ) {}

  /** Opens (creating if needed) the database, serves it on an ephemeral loopback port, migrates. */
  static async open(options: EmbeddedLineageOptions = {}): Promise<EmbeddedLineage> {
    const db = options.dataDir
      ? await openDataDir(options.dataDir)
      : await PGlite.create({ ...pgliteOptions(), ...(await inMemoryTemplate()) });
    const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port: 0, maxConnections: 1 });
    try {
      await server.start();
      const url = `postgres://postgres@${server.getServerConn()}/postgres`;
      const store = await PgLineageStore.connect({ url, max: 1 });
      return new EmbeddedLineage(store, server, db, url);
    } catch (e) {
      await server.stop().catch(() => undefined);
      await db.close().catch(() => undefined);
      throw new LineageError('CONNECT_FAILED', `cannot open embedded lineage: ${String(e)}`, {
        cause: e,
      });
    }
  }

  /** Closes store, server and database; idempotent. */
  async close(): Promise<void> {
    if (this.#closed) {
      return;
    }
    this.#closed = true;
    await this.store.close();
    await this.server.stop();
    await this.db.close();
  }
}

async function openDataDir(dataDir: string): Promise<PGlite> {
  try {
    await prepareDataDir(dataDir);
  } catch (e) {
    throw e instanceof LineageError
      ? e
      : new LineageError('DATA_DIR_INIT_FAILED', `cannot initialise ${dataDir}: ${String(e)}`, {
          cause: e,
        });
  }
  return PGlite.create(dataDir, pgliteOptions());
}

/** In memory (tests), PGlite loads the template itself: ~240 MiB peak instead of initdb's ~500. */
async function inMemoryTemplate(): Promise<{ loadDataDir?: Blob }> {
  const file = await findTemplate();
  if (!file) {
    return {};
  }
  return { loadDataDir: new Blob([await readFile(file)], { type: 'application/x-gzip' }) };
}
