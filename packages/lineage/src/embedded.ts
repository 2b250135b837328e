/**
 * The embedded lineage for single-host use: PGlite (Postgres in WASM) on a worker thread of this
 * process (`embedded-worker.ts`), served on 127.0.0.1 by pglite-socket, used through the same
 * `PgLineageStore` and SQL as a server.
 *
 * pglite-socket shares one backend session between connections, so the store uses one connection
 * (`max: 1`) and the server accepts one. One process per data directory: PGlite is not
 * multi-process safe (the CLI must hold a lock on its state directory).
 */
import { EmbeddedServer } from './embedded-server.js';
import { LineageError } from './errors.js';
import { PgLineageStore } from './pg-lineage-store.js';

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
    private readonly server: EmbeddedServer,
    /** The `postgres://` URL the socket serves. */
    readonly url: string,
  ) {}

  /**
   * Opens (creating if needed) the database on a thread of its own, serving it on an ephemeral
   * loopback port, and migrates.
   */
  static async open(options: EmbeddedLineageOptions = {}): Promise<EmbeddedLineage> {
    const server = await EmbeddedServer.start(
      options.dataDir !== undefined ? { dataDir: options.dataDir } : {},
    );
    return EmbeddedLineage.over(server);
  }

  /**
   * The store over a database thread already started with {@link EmbeddedServer.start}, which a
   * caller may start before it loads this module (the thread's start then overlaps the load).
   * Migrates; on failure the server is closed.
   */
  static async over(server: EmbeddedServer): Promise<EmbeddedLineage> {
    try {
      const store = await PgLineageStore.connect({ url: server.url, max: 1 });
      return new EmbeddedLineage(store, server, server.url);
    } catch (e) {
      await server.close().catch(() => undefined);
      if (e instanceof LineageError && e.code === 'LINEAGE_TOO_NEW') {
        throw e; // not damage: the CLI's advice to move the lineage aside would lose it
      }
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
    try {
      await this.store.close();
    } finally {
      await this.server.close();
    }
  }
}
