/**
 * A `qemu-nbd` server on a unix socket, for stopped domains' images (backup, read-only, with a
 * dirty bitmap) and for restores into new qcow2 images (writable).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { constants } from 'node:fs';
import { access, open, rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

import { EngineError } from './errors.js';

/**
 * glibc's malloc tuned for qemu-nbd: qemu allocates a bounce buffer per request, and above glibc's
 * mmap threshold each is a fresh mapping that faults in page by page. Writing 2.2 GiB into a fresh
 * qcow2 in 4 MiB requests took 184,000 page faults and 3.5 s of qemu-nbd's system time; with the
 * threshold raised (and freed memory kept) 9,900 faults and 0.84 s, 8.0 -> 6.0 s in all (nbdcopy
 * as the client, lab machine). It replaces any GLIBC_TUNABLES the user set, for qemu-nbd only.
 */
const MALLOC_TUNING =
  'GLIBC_TUNABLES=glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=1073741824';

/**
 * Whether `image` can be opened with O_DIRECT: false only when its filesystem refuses it (EINVAL);
 * any other failure is left to qemu-nbd, which reports it in its own words.
 */
export async function takesDirectIo(image: string, readOnly: boolean): Promise<boolean> {
  const mode = (readOnly ? constants.O_RDONLY : constants.O_RDWR) | constants.O_DIRECT;
  try {
    const h = await open(image, mode);
    await h.close();
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code !== 'EINVAL';
  }
}

/** Options of {@link QemuNbd.start}. */
export interface QemuNbdOptions {
  /** Image file. */
  image: string;
  /** Image format. */
  format: string;
  /** Unix socket to serve on. */
  socket: string;
  /** Export name. */
  exportName: string;
  /** Serve read-only. */
  readOnly: boolean;
  /** Dirty bitmap to export as `qemu:dirty-bitmap:<name>`. */
  bitmap?: string;
  /** How long to wait for the socket. @default 10000 */
  startTimeoutMs?: number;
}

/** A running qemu-nbd; `close()` stops it and removes the socket. */
export class QemuNbd {
  readonly #child: ChildProcess;
  readonly #socket: string;
  #stderr = '';
  #exited: Promise<void>;
  #exitCode: number | null = null;

  private constructor(child: ChildProcess, socket: string) {
    this.#child = child;
    this.#socket = socket;
    child.stderr?.on('data', (d: Buffer) => {
      this.#stderr = (this.#stderr + d.toString()).slice(-4000);
    });
    this.#exited = new Promise((resolve) => {
      child.on('exit', (code) => {
        this.#exitCode = code ?? -1;
        resolve();
      });
      // a spawn that failed (setpriv missing, EAGAIN under a task limit) emits no 'exit': without
      // this the error event would be thrown and take the whole process down
      child.on('error', (e) => {
        this.#stderr += e.message;
        this.#exitCode = -1;
        resolve();
      });
    });
  }

  /**
   * Starts qemu-nbd and waits until it serves. Readiness is the pid file, not the socket:
   * qemu-nbd 7.2 creates its socket before it opens the image, and writes the pid file only once
   * the image is open, so an image locked by a running QEMU never looks ready.
   */
  static async start(o: QemuNbdOptions): Promise<QemuNbd> {
    await rm(o.socket, { force: true });
    await rm(pidFile(o.socket), { force: true });
    const args = ['--socket', o.socket, '--export-name', o.exportName, '-f', o.format];
    args.push('--pid-file', pidFile(o.socket));
    // --cache=none bypasses the host's page cache (a restore of terabytes must not evict the
    // host's working set), but qemu then needs O_DIRECT, which some filesystems refuse (ramfs,
    // tmpfs before Linux 6.6): there the page cache it is
    const direct = await takesDirectIo(o.image, o.readOnly);
    args.push(
      ...(direct ? ['--cache=none', '--aio=native'] : ['--cache=writeback', '--aio=threads']),
    );
    args.push('--shared=8', '--persistent');
    if (o.readOnly) {
      args.push('--read-only');
    }
    if (o.bitmap !== undefined) {
      args.push('--bitmap', o.bitmap);
    }
    args.push(o.image);
    // through env(1), which adds MALLOC_TUNING to the environment qemu-nbd inherits, and
    // setpriv(1), which has the kernel end it if this process dies without closing it (a second
    // Ctrl-C, SIGKILL, the OOM killer): a server left behind keeps the image locked, so the
    // domain could not start. SIGKILL, not SIGTERM: 7.2 was seen to go on after SIGTERM once its
    // clients were gone (see close()), which is just what this process's death leaves; nothing of
    // a read-only export, or of a restore whose process died, is worth a clean exit. In a process
    // group of its own, a terminal's Ctrl-C reaches this process only, which then stops the
    // server in its clean-up.
    const child = spawn(
      'setpriv',
      ['--pdeathsig', 'SIGKILL', 'env', MALLOC_TUNING, 'qemu-nbd', ...args],
      { stdio: ['ignore', 'ignore', 'pipe'], detached: true },
    );
    const server = new QemuNbd(child, o.socket);
    try {
      await server.#waitReady(o.startTimeoutMs ?? 10_000);
    } catch (e) {
      // a failed start leaves neither a server nor its socket (7.2 makes it before the image)
      await server.close().catch(() => undefined);
      throw e;
    }
    return server;
  }

  async #waitReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    // checked once more after the deadline: a process stopped meanwhile (SIGSTOP, a suspended
    // machine) finds a server that became ready while it was not looking
    for (;;) {
      if (this.#exitCode !== null) {
        throw new EngineError('QEMU_NBD_FAILED', `qemu-nbd exited: ${this.#stderr.trim()}`);
      }
      if (
        await access(pidFile(this.#socket)).then(
          () => true,
          () => false,
        )
      ) {
        return;
      }
      if (Date.now() >= deadline) {
        break;
      }
      await sleep(20);
    }
    await this.close();
    throw new EngineError('QEMU_NBD_FAILED', `qemu-nbd did not listen on ${this.#socket}`);
  }

  /**
   * Stops the server and removes the socket. Idempotent. SIGTERM first; qemu-nbd 7.2 was seen to
   * keep running after SIGTERM once all clients were gone, so SIGKILL follows after
   * `graceMs` (safe: clients flushed what they wrote, and read-only exports change nothing).
   */
  async close(graceMs = 3000): Promise<void> {
    if (this.#exitCode === null) {
      this.#child.kill('SIGTERM');
      const timer = setTimeout(() => this.#child.kill('SIGKILL'), graceMs);
      await this.#exited;
      clearTimeout(timer);
    }
    await rm(this.#socket, { force: true });
    await rm(pidFile(this.#socket), { force: true });
  }
}

/** The pid file next to a socket. */
function pidFile(socket: string): string {
  return `${socket}.pid`;
}
