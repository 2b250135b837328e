/** Test helpers: start real NBD servers (qemu-nbd, nbdkit) on unix sockets. */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

/** A fresh temporary directory under /var/tmp (short paths for sockets). */
export function tempDir(): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync('/var/tmp/vvnbd-');
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A running server; stop() kills it by its own pid. */
export interface Server {
  /** Unix socket path. */
  readonly socket: string;
  /** nbd+unix URI of the default export. */
  readonly uri: string;
  /** Kills the server. */
  stop(): void;
}

/**
 * Reads a daemon's pid file, waiting up to 10 s for it: nbdkit binds its
 * socket, forks, and the parent exits before the child writes the file, so
 * the file can be missing for a moment after execFileSync returns.
 */
function readPidFile(pidFile: string): number {
  const deadline = Date.now() + 10_000;
  const nap = new Int32Array(new SharedArrayBuffer(4));
  for (;;) {
    const text = existsSync(pidFile) ? readFileSync(pidFile, 'utf8').trim() : '';
    // a written but not yet complete file reads as empty
    if (text !== '') {
      return Number(text);
    }
    if (Date.now() > deadline) {
      throw new Error(`no pid in ${pidFile} after 10 s`);
    }
    Atomics.wait(nap, 0, 0, 20);
  }
}

function pidServer(socket: string, pidFile: string): Server {
  const pid = readPidFile(pidFile);
  return {
    socket,
    uri: `nbd+unix:///?socket=${socket}`,
    stop: () => {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        // already gone
      }
    },
  };
}

/** qemu-nbd, daemonised with --fork (returns once the socket listens). */
export function startQemuNbd(dir: string, name: string, args: readonly string[]): Server {
  const socket = join(dir, `${name}.sock`);
  const pidFile = join(dir, `${name}.pid`);
  execFileSync('qemu-nbd', ['--fork', '-k', socket, `--pid-file=${pidFile}`, ...args]);
  return pidServer(socket, pidFile);
}

/** nbdkit, daemonised (the socket listens before nbdkit forks; the pid file follows). */
export function startNbdkit(dir: string, name: string, args: readonly string[]): Server {
  const socket = join(dir, `${name}.sock`);
  const pidFile = join(dir, `${name}.pid`);
  execFileSync('nbdkit', ['-U', socket, '-P', pidFile, ...args]);
  return pidServer(socket, pidFile);
}

/** nbdkit on TCP 127.0.0.1:port (daemonised like {@link startNbdkit}). */
export function startNbdkitTcp(
  dir: string,
  name: string,
  port: number,
  args: readonly string[],
): Server {
  const pidFile = join(dir, `${name}.pid`);
  execFileSync('nbdkit', ['-p', String(port), '-i', '127.0.0.1', '-P', pidFile, ...args]);
  return { ...pidServer('', pidFile), uri: `nbd://127.0.0.1:${port}/` };
}

/** One extent as nbdinfo --map --json prints it. */
export interface MapEntry {
  readonly offset: number;
  readonly length: number;
  readonly type: number;
}

/** nbdinfo --map[=context] --json, coalesced. */
export function nbdinfoMap(uri: string, context?: string): MapEntry[] {
  const flag = context === undefined ? '--map' : `--map=${context}`;
  const out = execFileSync('nbdinfo', [flag, '--json', uri], { encoding: 'utf8', timeout: 20_000 });
  const raw = JSON.parse(out) as MapEntry[];
  return coalesce(raw.map((e) => ({ offset: e.offset, length: e.length, type: e.type })));
}

/** Merges adjacent entries of equal type. */
export function coalesce(list: readonly MapEntry[]): MapEntry[] {
  const out: MapEntry[] = [];
  for (const e of list) {
    const last = out[out.length - 1];
    if (last && last.type === e.type && last.offset + last.length === e.offset) {
      out[out.length - 1] = { ...last, length: last.length + e.length };
    } else {
      out.push(e);
    }
  }
  return out;
}

/** sha256 of a file, hex. */
export function sha256File(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}
