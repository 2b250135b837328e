/**
 * The string enums of the wire contract (proto3 strings, listed in the .proto comments) and their
 * checks: an unknown value is a `BAD_MESSAGE`, never passed on to core.
 */
import type {
  AgentEventKind,
  BackupLevel,
  BitmapRemoval,
  DomainRunState,
  ReasonCode,
} from '@virtvault/core';
import { isReasonCode } from '@virtvault/core';

import { oneOf, ProtoError } from '../errors.js';

/** Domain run states. */
export const RUN_STATES: readonly DomainRunState[] = ['running', 'paused', 'shut-off'];
/** Backup levels. */
export const LEVELS: readonly BackupLevel[] = ['full', 'incremental', 'differential'];
/** How a new checkpoint is made. */
export const CHECKPOINT_MODES: readonly ('live' | 'offline')[] = ['live', 'offline'];
/** How a bitmap is removed. */
export const BITMAP_REMOVALS: readonly BitmapRemoval[] = ['qmp', 'qemu-img'];
/** Restore output formats. */
export const RESTORE_FORMATS: readonly ('qcow2' | 'raw')[] = ['qcow2', 'raw'];
/** Agent event kinds. */
export const EVENT_KINDS: readonly AgentEventKind[] = [
  'defined',
  'undefined',
  'started',
  'stopped',
  'suspended',
  'resumed',
  'migrated-in',
  'migrated-out',
  'job-completed',
  'job-failed',
  'connection-lost',
];

/** A checked run state. */
export function runState(field: string, v: string): DomainRunState {
  return oneOf(field, v, RUN_STATES);
}

/** A checked backup level. */
export function level(field: string, v: string): BackupLevel {
  return oneOf(field, v, LEVELS);
}

/** Checked reason codes (the planner's; an unknown one is a contract break). */
export function reasonCodes(field: string, v: readonly string[]): ReasonCode[] {
  return v.map((r) => {
    if (!isReasonCode(r)) {
      throw new ProtoError('BAD_MESSAGE', `${field}: unknown reason code "${r}"`);
    }
    return r;
  });
}

/** `null` for proto3's empty string (the .proto's "empty when none"). */
export function orNull(v: string): string | null {
  return v === '' ? null : v;
}
