/**
 * Backup, restore, prune and GC requests and results: core/API types ⇄ wire messages.
 */
import type {
  AgentBackupRequest,
  AgentGcResult,
  AgentPruneRequest,
  AgentPruneResult,
  AgentRestoreRequest,
  AgentRestoreResult,
} from '../agent-api.js';
import { oneOf, required } from '../errors.js';
import type {
  CollectGarbageResponse as GcMsg,
  CollectGarbageResponse__Output as GcOut,
} from '../generated/virtvault/agent/v1/CollectGarbageResponse.js';
import type {
  PruneRequest as PruneMsg,
  PruneRequest__Output as PruneOut,
} from '../generated/virtvault/agent/v1/PruneRequest.js';
import type {
  PruneResponse as PruneResMsg,
  PruneResponse__Output as PruneResOut,
} from '../generated/virtvault/agent/v1/PruneResponse.js';
import type {
  RestoreRequest as RestoreMsg,
  RestoreRequest__Output as RestoreOut,
} from '../generated/virtvault/agent/v1/RestoreRequest.js';
import type {
  RestoreResult as RestoreResMsg,
  RestoreResult__Output as RestoreResOut,
} from '../generated/virtvault/agent/v1/RestoreResult.js';
import type {
  RunBackupRequest as BackupMsg,
  RunBackupRequest__Output as BackupOut,
} from '../generated/virtvault/agent/v1/RunBackupRequest.js';

import { CHECKPOINT_MODES, level, orNull, reasonCodes, RESTORE_FORMATS } from './enums.js';
import { observedFromMsg, observedToMsg } from './observed.js';

/** Backup request → wire. */
export function backupRequestToMsg(r: AgentBackupRequest): BackupMsg {
  const nc = r.newCheckpoint;
  return {
    runId: r.runId,
    repository: r.repository,
    snapshotId: r.snapshotId,
    observed: observedToMsg(r.observed),
    level: r.level,
    parentSnapshot: r.parentSnapshot ?? '',
    incrementalFrom: r.incrementalFrom ?? '',
    newCheckpoint: nc === null ? null : { name: nc.name, disks: [...nc.disks], mode: nc.mode },
    reasons: [...r.reasons],
    quiesce: r.quiesce === true,
  };
}

/** Wire → backup request; `BAD_MESSAGE` for unknown enums or a missing observation. */
export function backupRequestFromMsg(m: BackupOut): AgentBackupRequest {
  const nc = m.newCheckpoint;
  return {
    runId: m.runId,
    repository: m.repository,
    snapshotId: m.snapshotId,
    observed: observedFromMsg(required('RunBackupRequest.observed', m.observed)),
    level: level('RunBackupRequest.level', m.level),
    parentSnapshot: orNull(m.parentSnapshot),
    incrementalFrom: orNull(m.incrementalFrom),
    newCheckpoint:
      nc === null
        ? null
        : {
            name: nc.name,
            disks: [...nc.disks],
            mode: oneOf('NewCheckpoint.mode', nc.mode, CHECKPOINT_MODES),
          },
    reasons: reasonCodes('RunBackupRequest.reasons', m.reasons),
    ...(m.quiesce ? { quiesce: true } : {}),
  };
}

/** Restore request → wire (absent options become proto3 defaults). */
export function restoreRequestToMsg(r: AgentRestoreRequest): RestoreMsg {
  return {
    repository: r.repository,
    domainUuid: r.domainUuid,
    snapshotId: r.snapshotId,
    outputDir: r.outputDir,
    format: r.format,
    disks: [...(r.disks ?? [])],
    defineName: r.defineName ?? '',
  };
}

/** Wire → restore request; empty disks means all, an empty define name means none. */
export function restoreRequestFromMsg(m: RestoreOut): AgentRestoreRequest {
  return {
    repository: m.repository,
    domainUuid: m.domainUuid,
    snapshotId: m.snapshotId,
    outputDir: m.outputDir,
    format: oneOf('RestoreRequest.format', m.format, RESTORE_FORMATS),
    ...(m.disks.length > 0 ? { disks: [...m.disks] } : {}),
    ...(m.defineName !== '' ? { defineName: m.defineName } : {}),
  };
}

/** Restore result → wire. */
export function restoreResultToMsg(r: AgentRestoreResult): RestoreResMsg {
  return { disks: r.disks.map((d) => ({ ...d })), definedUuid: r.definedUuid ?? '' };
}

/** Wire → restore result. */
export function restoreResultFromMsg(m: RestoreResOut): AgentRestoreResult {
  return {
    disks: m.disks.map((d) => ({
      target: d.target,
      path: d.path,
      format: d.format,
      virtualSize: d.virtualSize,
    })),
    definedUuid: orNull(m.definedUuid),
  };
}

/** Prune request → wire. */
export function pruneRequestToMsg(r: AgentPruneRequest): PruneMsg {
  return {
    repository: r.repository,
    domainUuid: r.domainUuid ?? '',
    keepLast: r.keepLast,
    keepDaily: r.keepDaily,
    keepWeekly: r.keepWeekly,
    keepMonthly: r.keepMonthly,
    timeZone: r.timeZone ?? '',
    protect: [...(r.protect ?? [])],
    dryRun: r.dryRun ?? false,
  };
}

/** Wire → prune request (empty domain: every domain; empty time zone: UTC). */
export function pruneRequestFromMsg(m: PruneOut): AgentPruneRequest {
  return {
    repository: m.repository,
    ...(m.domainUuid !== '' ? { domainUuid: m.domainUuid } : {}),
    keepLast: m.keepLast,
    keepDaily: m.keepDaily,
    keepWeekly: m.keepWeekly,
    keepMonthly: m.keepMonthly,
    ...(m.timeZone !== '' ? { timeZone: m.timeZone } : {}),
    ...(m.protect.length > 0 ? { protect: [...m.protect] } : {}),
    ...(m.dryRun ? { dryRun: true } : {}),
  };
}

/** Prune result → wire. */
export function pruneResultToMsg(r: AgentPruneResult): PruneResMsg {
  return {
    kept: [...r.kept],
    removed: [...r.removed],
    inUse: [...r.inUse],
    damaged: [...r.damaged],
  };
}

/** Wire → prune result. */
export function pruneResultFromMsg(m: PruneResOut): AgentPruneResult {
  return {
    kept: [...m.kept],
    removed: [...m.removed],
    inUse: [...m.inUse],
    damaged: [...m.damaged],
  };
}

/** GC result → wire. */
export function gcResultToMsg(r: AgentGcResult): GcMsg {
  return { ...r, removedSnapshots: [...r.removedSnapshots] };
}

/** Wire → GC result. */
export function gcResultFromMsg(m: GcOut): AgentGcResult {
  return {
    marked: m.marked,
    swept: m.swept,
    sweptBytes: m.sweptBytes,
    removedSnapshots: [...m.removedSnapshots],
    removedBad: m.removedBad,
  };
}
