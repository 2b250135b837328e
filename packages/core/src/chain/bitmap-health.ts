/**
 * Health of a checkpoint's bitmaps on the observed disks (peers.md B1, B3, B4, B5, B11).
 *
 * libvirt's chain validity (kbase incrementalbackupinternals): the bitmap exists in the top image,
 * records, and is neither in-use nor inconsistent. A busy bitmap belongs to a running block job.
 */
import type { CheckpointDisk } from '../model/lineage.js';
import type { ObservedBitmap, ObservedDisk } from '../model/observed.js';

/** What is wrong with one bitmap. */
export type BitmapProblem = 'BITMAP_MISSING' | 'BITMAP_INCONSISTENT' | 'BITMAP_BUSY';

/** One bitmap problem on one disk. */
export interface BitmapFinding {
  /** Disk target. */
  disk: string;
  /** Bitmap name looked for. */
  bitmap: string;
  /** Problem. */
  problem: BitmapProblem;
}

/** The bitmap expected on `target` for a checkpoint (libvirt names it after the checkpoint). */
export function expectedBitmap(
  checkpoint: string,
  disks: readonly CheckpointDisk[] | null,
  target: string,
): string {
  return disks?.find((d) => d.target === target)?.bitmap ?? checkpoint;
}

/** Problem of a present bitmap, or null when usable. */
export function bitmapProblem(b: ObservedBitmap): BitmapProblem | null {
  if (b.inconsistent || !b.recording || !b.persistent) {
    return 'BITMAP_INCONSISTENT';
  }
  return b.busy ? 'BITMAP_BUSY' : null;
}

/**
 * Problems of a checkpoint's bitmaps on the disks it covers. `disks` null means: every observed
 * disk that supports bitmaps (checkpoints unknown to the lineage).
 */
export function checkBitmaps(
  checkpoint: string,
  disks: readonly CheckpointDisk[] | null,
  observed: readonly ObservedDisk[],
): BitmapFinding[] {
  const findings: BitmapFinding[] = [];
  for (const d of observed) {
    if (!d.bitmapsSupported || (disks && !disks.some((c) => c.target === d.target))) {
      continue;
    }
    const name = expectedBitmap(checkpoint, disks, d.target);
    const b = d.bitmaps.find((x) => x.name === name);
    const problem = b ? bitmapProblem(b) : 'BITMAP_MISSING';
    if (problem) {
      findings.push({ disk: d.target, bitmap: name, problem });
    }
  }
  return findings;
}
