/**
 * `qemu-img` as the engine uses it: image facts (size, format, bitmap support) and offline
 * bitmap changes.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

import { EngineError } from './errors.js';

const run = promisify(execFile);

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

/** Runs qemu-img with the given arguments; failures carry `QEMU_IMG_FAILED`. */
export async function qemuImg(args: string[]): Promise<string> {
  try {
    return (await run('qemu-img', args, { maxBuffer: 16 * 1024 * 1024 })).stdout;
  } catch (e) {
    const stderr = (e as { stderr?: string }).stderr ?? '';
    throw new EngineError('QEMU_IMG_FAILED', `qemu-img ${args[0]} failed: ${stderr.trim()}`, {
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

/** Facts of an image; `-U` so a running QEMU's lock does not stop the look. */
export async function imageInfo(file: string, format?: string): Promise<ImageInfo> {
  const args = ['info', '-U', ...formatArgs(format), '--output=json', file];
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
