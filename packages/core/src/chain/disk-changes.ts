/**
 * Disk set comparison between the parent snapshot and the domain now (`DISKS_CHANGED`, peers.md B6).
 */
import type { LineageDisk } from '../model/lineage.js';
import type { ObservedDisk } from '../model/observed.js';

/** Plain-words differences between the parent's disks and the observed ones; empty when equal. */
export function diskChanges(
  parent: readonly LineageDisk[],
  now: readonly ObservedDisk[],
): string[] {
  const changes: string[] = [];
  for (const p of parent) {
    const d = now.find((x) => x.target === p.target);
    if (!d) {
      changes.push(`disk ${p.target} was removed`);
    } else if (d.source !== p.source) {
      changes.push(`disk ${p.target} source changed from ${p.source} to ${d.source}`);
    } else if (d.format !== p.format) {
      changes.push(`disk ${p.target} format changed from ${p.format} to ${d.format}`);
    } else if (d.virtualSize !== p.virtualSize) {
      changes.push(`disk ${p.target} was resized from ${p.virtualSize} to ${d.virtualSize} bytes`);
    }
  }
  for (const d of now) {
    if (!parent.some((p) => p.target === d.target)) {
      changes.push(`disk ${d.target} (${d.source}) was added`);
    }
  }
  return changes;
}
