/**
 * `qemu-img` as the engine uses it: image facts (size, format, bitmap support) and offline
 * bitmap changes.
 */
import { spawn } from 'node:child_process';

import { EngineError } from './errors.js';

/** What `qemu-img info` tells about one image. */
export interface ImageInfo {
  /** Virtual size in bytes. */
  virtualSize: number;
  /** Image format. */
  format: string;
  /** qcow2 v3 (compat 1.1) can hold persistent bitmaps; raw and qcow2 v2 cannot. */
  bitmapsSupported: boolean;
}

interface QemuImgInfoJson {
  'virtual-size': number;
  format: string;
  'format-specific'?: { type?: string; data?: { compat?: string } };
}

/** Output beyond which a qemu-img run is cut short (its JSON is a few KiB). */
const MAX_OUTPUT = 16 * 1024 * 1024;

/** The stdout of `qemu-img args`; rejects with its stderr when it fails. */
function runDetached(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    // execFile cannot start a process group of its own: spawn can
    const child = spawn('qemu-img', args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let size = 0;
    const take = (into: Buffer[]) => (b: Buffer) => {
      size += b.length;
      if (size > MAX_OUTPUT) {
        child.kill('SIGKILL');
      }
      into.push(b);
    };
    child.stdout.on('data', take(out));
    child.stderr.on('data', take(err));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const stderr = Buffer.concat(err).toString('utf8');
      if (code === 0) {
        resolve(Buffer.concat(out).toString('utf8'));
      } else {
        const how = signal !== null ? `killed by ${signal}` : `exit ${code ?? '?'}`;
        reject(Object.assign(new Error(`qemu-img ${how}`), { stderr }));
      }
    });
  });
}

/**
 * Runs qemu-img with the given arguments; failures carry `QEMU_IMG_FAILED`. It runs in a process
 * group of its own, so a Ctrl-C meant for virtvault never reaches it: qemu-img marks every
 * persistent bitmap of an image it opens for writing in use, and killed before it closes the
 * image it would leave them all inconsistent (the next backup a full). virtvault's own clean-up
 * waits for it instead.
 */
export async function qemuImg(args: string[]): Promise<string> {
  try {
    return await runDetached(args);
  } catch (e) {
    const stderr = (e as { stderr?: string }).stderr ?? '';
    const detail = stderr.trim() !== '' ? stderr.trim() : (e as Error).message;
    throw new EngineError('QEMU_IMG_FAILED', `qemu-img ${args[0]} failed: ${detail}`, {
      cause: e,
    });
  }
}

/**
 * `-f FORMAT` when the domain's configuration names the format: qemu-img must never guess it. A
 * raw disk whose guest wrote a qcow2 header at its start would be probed as qcow2, and a bitmap
 * added to it would write qcow2 metadata into the guest's data.
 */
export function formatArgs(format: string | undefined): string[] {
  return format === undefined || format === '' ? [] : ['-f', format];
}

/**
 * `qemu-img bitmap --add|--remove` of `name` on `file`. The positionals come after `--`: a bitmap
 * name is the last argument, and one such as `--help` was taken for an option (qemu-img printed
 * its usage and exited 0, so a removal that never ran looked done).
 */
export function bitmapArgs(
  op: '--add' | '--remove',
  file: string,
  format: string | undefined,
  name: string,
): string[] {
  return ['bitmap', op, ...formatArgs(format), '--', file, name];
}

/** Facts of an image; `-U` so a running QEMU's lock does not stop the look. */
export async function imageInfo(file: string, format?: string): Promise<ImageInfo> {
  const args = ['info', '-U', ...formatArgs(format), '--output=json', '--', file];
  const info = JSON.parse(await qemuImg(args)) as QemuImgInfoJson;
  return imageFacts({
    virtualSize: info['virtual-size'],
    format: info.format,
    compat: info['format-specific']?.data?.compat,
  });
}

/** Facts of an image from its size, format and qcow2 compat level (however they were learnt). */
export function imageFacts(i: {
  virtualSize: number;
  format: string;
  compat?: string | undefined;
}): ImageInfo {
  return {
    virtualSize: i.virtualSize,
    format: i.format,
    bitmapsSupported: i.format === 'qcow2' && i.compat !== '0.10',
  };
}

/** What qemu-img says when another process holds an image's lock (QEMU's `raw_check_lock`). */
const LOCKED = /Failed to get "?(shared )?\S+"? lock|Is another process using the image/i;

/**
 * Throws `DISK_IN_USE` when another process holds `file` (a stopped domain's image): `qemu-img
 * info` without `-U` takes the shared lock that a running QEMU (the domain after a migration left
 * its old definition here, another domain on the same image) refuses. The observation of a
 * stopped domain reads bitmaps with `-U`, which a live QEMU elsewhere had marked in use or not yet
 * written: every checkpoint looked broken, and was recorded so, under a chain that was fine.
 */
export async function assertImageFree(file: string, format?: string): Promise<void> {
  try {
    await runDetached(['info', ...formatArgs(format), '--output=json', '--', file]);
  } catch (e) {
    const stderr = (e as { stderr?: string }).stderr ?? '';
    if (LOCKED.test(stderr)) {
      throw new EngineError(
        'DISK_IN_USE',
        `${file} is open in another process (is the domain running elsewhere, e.g. on the host ` +
          `it migrated to?): ${stderr.trim()}`,
        { cause: e },
      );
    }
    // anything else: the observation's own reads report it
  }
}
