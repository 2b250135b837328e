/**
 * The libvirt flag and enum values the facade uses (from libvirt-domain.h and
 * libvirt-domain-checkpoint.h, libvirt 9.0; all stable ABI).
 */

/** virDomainXMLFlags. */
export const DomainXmlFlags = {
  SECURE: 1 << 0,
  INACTIVE: 1 << 1,
  UPDATE_CPU: 1 << 2,
  MIGRATABLE: 1 << 3,
} as const;

/** virDomainUndefineFlagsValues. */
export const UndefineFlags = {
  MANAGED_SAVE: 1 << 0,
  SNAPSHOTS_METADATA: 1 << 1,
  NVRAM: 1 << 2,
  KEEP_NVRAM: 1 << 3,
  CHECKPOINTS_METADATA: 1 << 4,
  TPM: 1 << 5,
  KEEP_TPM: 1 << 6,
} as const;

/** virConnectListAllDomainsFlags (a few). */
export const ListDomainsFlags = {
  ACTIVE: 1 << 0,
  INACTIVE: 1 << 1,
  PERSISTENT: 1 << 2,
  TRANSIENT: 1 << 3,
} as const;

/** virDomainCheckpointCreateFlags. */
export const CheckpointCreateFlags = {
  REDEFINE: 1 << 0,
  QUIESCE: 1 << 1,
  REDEFINE_VALIDATE: 1 << 2,
} as const;

/** virDomainCheckpointListFlags. */
export const CheckpointListFlags = {
  ROOTS: 1 << 0,
  TOPOLOGICAL: 1 << 1,
  LEAVES: 1 << 2,
  NO_LEAVES: 1 << 3,
} as const;

/** virDomainCheckpointDeleteFlags. */
export const CheckpointDeleteFlags = {
  CHILDREN: 1 << 0,
  METADATA_ONLY: 1 << 1,
  CHILDREN_ONLY: 1 << 2,
} as const;

/** virDomainCheckpointXMLFlags. */
export const CheckpointXmlFlags = {
  SECURE: 1 << 0,
  NO_DOMAIN: 1 << 1,
  SIZE: 1 << 2,
} as const;

/** virDomainBackupBeginFlags. */
export const BackupBeginFlags = { REUSE_EXTERNAL: 1 << 0 } as const;

/** virDomainGetJobStatsFlags. */
export const JobStatsFlags = { COMPLETED: 1 << 0, KEEP_COMPLETED: 1 << 1 } as const;

/** virDomainQemuMonitorCommandFlags. */
export const MonitorCommandFlags = { HMP: 1 << 0 } as const;

/** virDomainState as names. */
export const DOMAIN_STATES = [
  'nostate',
  'running',
  'blocked',
  'paused',
  'shutdown',
  'shutoff',
  'crashed',
  'pmsuspended',
] as const;

/** A domain's state by name. */
export type DomainState = (typeof DOMAIN_STATES)[number] | 'unknown';

/** virDomainJobType as names. */
export const JOB_TYPES = [
  'none',
  'bounded',
  'unbounded',
  'completed',
  'failed',
  'cancelled',
] as const;

/** A job's type by name. */
export type JobType = (typeof JOB_TYPES)[number] | 'unknown';

/** virDomainEventType as names. */
export const LIFECYCLE_EVENTS = [
  'defined',
  'undefined',
  'started',
  'suspended',
  'resumed',
  'stopped',
  'shutdown',
  'pmsuspended',
  'crashed',
] as const;

/** A lifecycle event by name. */
export type LifecycleEvent = (typeof LIFECYCLE_EVENTS)[number] | 'unknown';

/** virConnectCloseReason as names. */
export const CLOSE_REASONS = ['error', 'eof', 'keepalive', 'client'] as const;

/** Why a connection closed. */
export type CloseReason = (typeof CLOSE_REASONS)[number] | 'unknown';

/** virConnectDomainEventBlockJobStatus as names. */
export const BLOCK_JOB_STATUSES = ['completed', 'failed', 'cancelled', 'ready'] as const;

/** Block job status by name. */
export type BlockJobStatus = (typeof BLOCK_JOB_STATUSES)[number] | 'unknown';

/** Picks `names[n]`, or 'unknown' outside the table. */
export function nameOf<T extends string>(names: readonly T[], n: number): T | 'unknown' {
  return names[n] ?? 'unknown';
}
