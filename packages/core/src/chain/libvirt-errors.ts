/**
 * Classifies libvirt error messages seen at checkpoint redefine, backup begin and checkpoint delete
 * (lab.md section 7, libvirt 9.0) into reason codes, for the hypervisor adapter that maps its
 * errors into core codes. Pure string matching: core never imports libvirt.
 */
import type { ReasonCode } from '../model/reasons.js';

/** Message patterns, most specific first. */
const PATTERNS: readonly (readonly [RegExp, ReasonCode])[] = [
  // "checkpoint inconsistent: missing or broken bitmap 'X' for disk 'vda'"
  [/checkpoint inconsistent: missing or broken bitmap/i, 'BITMAP_INCONSISTENT'],
  // "internal error: bitmap 'X' not found in backing chain of 'vda'"
  [/bitmap '[^']*' not found in backing chain/i, 'BITMAP_MISSING'],
  // "unable to execute QEMU command 'transaction': Bitmap already exists: X"
  [/Bitmap already exists/i, 'BITMAP_INCONSISTENT'],
  // "Domain checkpoint not found: Checkpoint 'cp2' for incremental backup of disk 'vda' not found"
  [/Domain checkpoint not found/i, 'CHECKPOINT_REDEFINED'],
  // "invalid argument: parent cp1 for moment cp2 not found"
  [/parent \S+ for moment \S+ not found/i, 'REDEFINE_FAILED'],
  // "definition for checkpoint X must use uuid …" (domain re-created under another UUID)
  [/definition for checkpoint \S+ must use uuid/i, 'REDEFINE_FAILED'],
  // "Cannot store dirty bitmaps in qcow2 v2 files"
  [/Cannot store dirty bitmaps in qcow2 v2 files/i, 'BITMAPS_UNSUPPORTED'],
];

/** The reason a libvirt error message points to, or null for anything else. */
export function classifyLibvirtMessage(message: string): ReasonCode | null {
  for (const [re, code] of PATTERNS) {
    if (re.test(message)) {
      return code;
    }
  }
  return null;
}
