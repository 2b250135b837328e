/**
 * The main thread's handle of the embedded lineage's database thread (`embedded-worker.ts`): starts
 * it, learns the `postgres://` URL it serves, and stops it.
 */
import { Worker } from 'node:worker_threads';

import { LineageError, type LineageErrorCode, LINEAGE_ERRORS } from './errors.js';

/** What the database thread is started with. */
export interface ServerInput {
  /** Data directory; omitted = in memory (tests). */
  dataDir?: string;
}

/** What the database thread says: once `ready` or `failed`, and `closed` or `failed` when stopped. */
export type ServerMessage =
  | { type: 'ready'; url: string }
  | { type: 'closed' }
  | { type: 'failed'; code: string | null; message: string };

/** The database thread, serving PGlite on an ephemeral loopback port. */
export class EmbeddedServer {
  #closing: Promise<void> | null = null;
  #failure: LineageError | null = null;
  readonly #exited: Promise<void>;

  private constructor(
    private readonly worker: Worker,
    /** The `postgres://` URL the thread serves. */
    readonly url: string,
  ) {
    this.#exited = new Promise((r) => worker.once('exit', () => r()));
    worker.on('error', (e) => {
      this.#failure ??= asLineageError(e);
    });
    worker.on('message', (m: ServerMessage) => {
      this.#failure ??= m.type === 'failed' ? fromMessage(m) : null;
    });
    // a command that ends without closing must still exit (PGlite recovers at its next start)
    worker.unref();
  }

  /** Starts the thread and waits until it serves; fails with the thread's own error code. */
  static start(input: ServerInput): Promise<EmbeddedServer> {
    const worker = new Worker(new URL('./embedded-worker.js', import.meta.url), {
      workerData: input,
    });
    return new Promise<EmbeddedServer>((resolve, reject) => {
      const onExit = (code: number): void =>
        reject(new LineageError('CONNECT_FAILED', `the lineage database thread exited (${code})`));
      worker.once('error', (e) => reject(asLineageError(e)));
      worker.once('exit', onExit);
      worker.once('message', (m: ServerMessage) => {
        worker.off('exit', onExit);
        if (m.type === 'ready') {
          resolve(new EmbeddedServer(worker, m.url));
        } else {
          reject(fromMessage(m));
        }
      });
    });
  }

  /** Stops the server and closes the database, then waits for the thread to end; idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    // kept alive until the database is closed (a dead thread ignores the message)
    this.worker.ref();
    this.worker.postMessage('close');
    await this.#exited;
    if (this.#failure !== null) {
      throw this.#failure;
    }
  }
}

function fromMessage(m: ServerMessage): LineageError {
  const known = m.type === 'failed' && m.code !== null && m.code in LINEAGE_ERRORS;
  const code = known ? (m.code as LineageErrorCode) : 'CONNECT_FAILED';
  const message = m.type === 'failed' ? m.message : `unexpected ${m.type} from the database thread`;
  return new LineageError(code, known ? message : `cannot open embedded lineage: ${message}`);
}

function asLineageError(e: unknown): LineageError {
  return e instanceof LineageError
    ? e
    : new LineageError('CONNECT_FAILED', `the lineage database thread failed: ${String(e)}`, {
        cause: e,
      });
}
