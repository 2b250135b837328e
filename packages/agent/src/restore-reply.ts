/**
 * A restore as the agent API reports it: the engine's progress and restored disks, in the API's
 * fields (the engine's carry more than the wire does).
 */
import type { AgentRestoreResult } from '@virtvault/proto';

import type { DiskProgressInfo } from './service.js';

/** A restore's progress: bytes written of the disk's virtual size. */
export function restoreProgress(p: {
  target: string;
  bytesWritten: number;
  virtualSize: number;
}): DiskProgressInfo {
  return { target: p.target, bytesRead: p.bytesWritten, bytesToRead: p.virtualSize };
}

/** One restored disk, with the fields the API returns. */
export function restoredDisk(
  d: AgentRestoreResult['disks'][number],
): AgentRestoreResult['disks'][number] {
  return { target: d.target, path: d.path, format: d.format, virtualSize: d.virtualSize };
}
