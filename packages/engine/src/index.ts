/**
 * `@virtvault/engine`: backup and restore of one domain — pull-mode backup jobs or stopped
 * domains' images read over NBD, slots planned from allocation and dirty bitmaps, written into
 * the repository; restores to qcow2 or sparse raw.
 */
export * from './slot-plan.js';
export * from './errors.js';
export { connectLibvirt } from './libvirt-connect.js';
export { copyDisk, copyExport, BASE_ALLOCATION } from './disk-copy.js';
export type { DiskProgress, CopyDiskOptions, ExportCopy, CopyCommon } from './disk-copy.js';
export {
  pullBackup,
  clearStaleJob,
  staleJobSocket,
  endJob,
  dropCheckpoint,
  JOB_FILE_PREFIX,
} from './pull-backup.js';
export type { PullBackupOptions, PullBackupResult } from './pull-backup.js';
export { offlineBackup, type OfflineBackupOptions } from './offline-backup.js';
export { Executor, type ExecutorOptions } from './executor.js';
export { parentError, parentProblem } from './parent-check.js';
export type { BackupPhase } from './job-options.js';
export {
  LibvirtHypervisor,
  isBackupDisk,
  openHypervisor,
  runState,
  type HypervisorOptions,
  type OpenHypervisor,
} from './hypervisor.js';
export { imageInfo, type ImageInfo } from './qemu-img.js';
export {
  scratchRoom,
  scratchVerdict,
  SCRATCH_MIN_FREE,
  type ScratchRoom,
} from './scratch-space.js';
export { assertPrivateScratch } from './scratch-guard.js';
export { QemuNbd, type QemuNbdOptions } from './qemu-nbd.js';
export {
  restoreSnapshot,
  assertDomainNameFree,
  defineRestoredDomain,
  type RestoreOptions,
  type RestoredDisk,
  type RestoreFormat,
  type RestoreProgress,
} from './restore.js';
