/** Test helpers: start real NBD servers (qemu-nbd, nbdkit) on unix sockets. */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
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

function pidServer(socket: string, pidFile: string): Server {
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
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

/** nbdkit, daemonised (the pid file appears once the socket listens). */
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
