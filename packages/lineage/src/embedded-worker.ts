/**
 * The embedded lineage's database thread: PGlite and the pglite-socket server that serves it on
 * 127.0.0.1. Started by `embedded-server.ts`; speaks {@link ServerMessage}s to it.
 *
 * Why a thread of its own: PGlite runs Postgres as WebAssembly on the thread that calls it, and its
 * start is ~0.2 s of uninterrupted work. On the backup's thread that blocked the event loop just
 * when the backup job had been requested early, so the NBD export was opened and read only once
 * the database was up.
 */
import { readFile } from 'node:fs/promises';
import { type MessagePort, parentPort, workerData } from 'node:worker_threads';

import type { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';

import { findTemplate, initError, prepareDataDir, syncFilesystem } from './data-dir.js';
import { LineageError } from './errors.js';
import { startPGlite } from './pglite-start.js';
import type { ServerInput, ServerMessage } from './embedded-server.js';

function portOf(): MessagePort {
  if (parentPort === null) {
    throw new Error('embedded-worker.js runs only as a worker thread');
  }
  return parentPort;
}
const port = portOf();
const post = (m: ServerMessage): void => port.postMessage(m);

async function openDataDir(dataDir: string): Promise<PGlite> {
  try {
    await prepareDataDir(dataDir);
  } catch (e) {
    throw initError(e, dataDir);
  }
  return startPGlite(dataDir);
}

/** In memory (tests), PGlite loads the template itself: ~240 MiB peak instead of initdb's ~500. */
async function inMemoryTemplate(): Promise<{ loadDataDir?: Blob }> {
  const file = await findTemplate();
  if (!file) {
    return {};
  }
  return { loadDataDir: new Blob([await readFile(file)], { type: 'application/x-gzip' }) };
}

async function start(input: ServerInput): Promise<void> {
  const db =
    input.dataDir !== undefined
      ? await openDataDir(input.dataDir)
      : await startPGlite(undefined, await inMemoryTemplate());
  const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port: 0, maxConnections: 1 });
  try {
    await server.start();
  } catch (e) {
    await db.close().catch(() => undefined);
    throw e;
  }
  port.once('message', () => {
    stop(server, db, input.dataDir).catch((e: unknown) => {
      post({ type: 'failed', ...describe(e) });
      // whatever the failed stop left open, the thread ends (its message is delivered first)
      process.exit(1);
    });
  });
  post({ type: 'ready', url: `postgres://postgres@${server.getServerConn()}/postgres` });
}

/**
 * Stops serving and closes the database (a shutdown checkpoint writes every page), then makes
 * the data directory durable: PGlite runs Postgres with fsync off (`-F` in its start parameters,
 * and its Node filesystem has no fsync), so nothing else ever flushes it, and a host crash soon
 * after a command could leave the lineage torn.
 */
async function stop(server: PGLiteSocketServer, db: PGlite, dataDir?: string): Promise<void> {
  try {
    await server.stop();
  } finally {
    await db.close();
  }
  if (dataDir !== undefined) {
    await syncFilesystem(dataDir);
  }
  post({ type: 'closed' });
  // nothing else keeps this thread alive: it ends once the port is closed
  port.close();
}

function describe(e: unknown): { code: string | null; message: string } {
  return {
    code: e instanceof LineageError ? e.code : null,
    message: e instanceof Error ? e.message : String(e),
  };
}

start(workerData as ServerInput).catch((e: unknown) => {
  post({ type: 'failed', ...describe(e) });
  port.close();
});
