/**
 * @virtvault/libvirt: libvirt's C API through the addon's own threads, with a typed facade,
 * domain/checkpoint/backup XML and QMP bitmap helpers.
 */
export { Connection, type ConnectOptions } from './connection.js';
export { Domain, type DomainStatus, type JobStats } from './domain.js';
export {
  Checkpoints,
  type CheckpointCreateOptions,
  type CheckpointDeleteOptions,
  type CheckpointInfo,
} from './checkpoints.js';
export * from './errors.js';
export * from './events.js';
export * from './flags.js';
export type { NativePoolStats } from './binding.js';
export * from './xml/domain-xml.js';
export * from './xml/checkpoint-xml.js';
export * from './xml/backup-xml.js';
export * from './qmp/bitmaps.js';
export * from './xml/restore-xml.js';
