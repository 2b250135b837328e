/**
 * Room in the scratch folder before a pull backup begins. While the job runs, QEMU copies the old
 * content of every block the guest overwrites into the job's scratch images (copy-before-write),
 * and libvirt offers no way to have a full scratch break the backup instead of the guest: the
 * guest's write fails. Measured in the lab (a 6 MiB scratch folder, 16 MiB written into the disk
 * during a backup): the write failed with ENOSPC while the backup went on and committed; a guest's
 * virtio disk stops the whole VM on ENOSPC by default. So a folder that cannot take even a small
 * burst of writes is refused before anything is created, and one with less room than the disks
 * hold makes the backup say so.
 */
import { stat, statfs } from 'node:fs/promises';
import path from 'node:path';

import { formatBytes as size } from '@virtvault/core';
import type { DiskInfo } from '@virtvault/libvirt';

import { EngineError } from './errors.js';

/** Below this much free space (or the disks' data, if less) the scratch folder is refused. */
export const SCRATCH_MIN_FREE = 256 * 1024 * 1024;

/** Bytes a file occupies on its filesystem; null when it cannot be told (not a plain file). */
async function fileBytes(file: string | undefined): Promise<number | null> {
  if (file === undefined) {
    return null;
  }
  const s = await stat(file).catch(() => null);
  return s?.isFile() === true ? s.blocks * 512 : null;
}

/** The image files of `disks` (top image and backing files); undefined for non-file layers. */
export function imageFiles(disks: readonly DiskInfo[]): (string | undefined)[] {
  return disks.flatMap((d) => [d.source, ...d.backingChain]).map((s) => s?.file);
}

/**
 * Bytes of data the image `files` hold on this host, which bounds what copy-before-write can put
 * into the scratch; null when none could be told (block devices, network disks).
 */
export async function heldBytes(files: readonly (string | undefined)[]): Promise<number | null> {
  const sizes = await Promise.all(files.map(fileBytes));
  const known = sizes.filter((n): n is number => n !== null);
  return known.length === 0 ? null : known.reduce((a, b) => a + b, 0);
}

/** Free bytes of the filesystem that holds `dir`, or will once it is created. */
async function freeBytes(dir: string): Promise<number> {
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    try {
      const fs = await statfs(d);
      return fs.bavail * fs.bsize;
    } catch (e) {
      if ((e as { code?: unknown }).code !== 'ENOENT' || d === path.dirname(d)) {
        throw e;
      }
    }
  }
}

/** The scratch folder's free space against what the disks hold. */
export interface ScratchRoom {
  /** The folder. */
  dir: string;
  /** Free bytes there. */
  free: number;
  /** Bytes the disks' images hold, null when unknown. */
  held: number | null;
}

/** Measures the room of scratch folder `dir` for the image `files` (see {@link imageFiles}). */
export async function scratchRoom(
  dir: string,
  files: readonly (string | undefined)[],
): Promise<ScratchRoom> {
  const [free, held] = await Promise.all([freeBytes(dir), heldBytes(files)]);
  return { dir: path.resolve(dir), free, held };
}

/**
 * The verdict on a scratch folder with `free` bytes for disks holding `held` (null: unknown): throws
 * `SCRATCH_NO_SPACE` below {@link SCRATCH_MIN_FREE} (or `held`, if less), returns a note when
 * `free` is less than `held`, else null. Pure.
 */
export function scratchVerdict({ dir, free, held }: ScratchRoom): string | null {
  const floor = Math.min(held ?? SCRATCH_MIN_FREE, SCRATCH_MIN_FREE);
  if (free < floor) {
    throw new EngineError(
      'SCRATCH_NO_SPACE',
      `the scratch folder ${dir} has ${size(free)} free: while a backup runs, QEMU keeps there the ` +
        "old content of every block the guest overwrites, and once it is full the guest's own " +
        "writes fail; free space there or choose another folder (--scratch, or the agent's " +
        'scratchDir)',
    );
  }
  if (held !== null && free < held) {
    return (
      `warning: the scratch folder ${dir} has ${size(free)} free, less than the ${size(held)} ` +
      'the disks hold: should the guest overwrite more than that during the backup, its writes ' +
      'fail; a scratch folder with more room avoids it'
    );
  }
  return null;
}

/** Checks the scratch folder `dir` for the disks backed up; see {@link scratchVerdict}. */
export async function checkScratchRoom(
  dir: string,
  disks: readonly DiskInfo[],
): Promise<string | null> {
  return scratchVerdict(await scratchRoom(dir, imageFiles(disks)));
}
