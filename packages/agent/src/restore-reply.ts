/**
 * A restore as the agent API reports it: the engine's progress and restored disks, in the API's
 * fields (the engine's carry more than the wire does).
 */
import type { AgentRestoreResult } from '@virtvault/proto';

import type { DiskProgressInfo } from './service.js';

/**
 * A restore's progress: how far through the disk's virtual size it is, holes included. Bytes
 * written (data only) stayed far below the size on a sparse disk, so a finished restore showed,
 * say, 12 % done.
 */
export function restoreProgress(p: {
  target: string;
  position: number;
  virtualSize: number;
}): DiskProgressInfo {
  return { target: p.target, bytesRead: p.position, bytesToRead: p.virtualSize };
}

/** One restored disk, with the fields the API returns. */
export function restoredDisk(
  d: AgentRestoreResult['disks'][number],
): AgentRestoreResult['disks'][number] {
  return { target: d.target, path: d.path, format: d.format, virtualSize: d.virtualSize };
}
