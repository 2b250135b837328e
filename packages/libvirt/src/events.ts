/**
 * Typed events of a connection, decoded from what the addon's event thread delivers.
 */
import type { NativeEvent, NativeParams } from './binding.js';
import {
  BLOCK_JOB_STATUSES,
  CLOSE_REASONS,
  LIFECYCLE_EVENTS,
  nameOf,
  type BlockJobStatus,
  type CloseReason,
  type LifecycleEvent,
} from './flags.js';

/** The domain an event is about. */
export interface EventDomain {
  name: string;
  uuid: string;
}

/** The connection closed (daemon gone, keepalive timeout, or closed by us). */
export interface CloseEvent {
  type: 'close';
  reason: CloseReason;
}

/** Domain lifecycle (started, stopped, …) with libvirt's numeric detail. */
export interface LifecycleEventData {
  type: 'lifecycle';
  domain: EventDomain;
  event: LifecycleEvent;
  detail: number;
}

/** A domain job finished; `failed` when libvirt reported `success: false` or an error message. */
export interface JobCompletedEvent {
  type: 'job-completed';
  domain: EventDomain;
  failed: boolean;
  /** libvirt's typed job statistics (`operation`, `success`, `errmsg`, `time_elapsed`, …). */
  stats: NativeParams;
}

/** A block job (copy, commit, pull, backup) changed state. */
export interface BlockJobEvent {
  type: 'block-job';
  domain: EventDomain;
  /** Disk target (vda) for BLOCK_JOB_2. */
  disk: string;
  jobType: number;
  status: BlockJobStatus;
}

/** Any event of a connection. */
export type LibvirtEvent = CloseEvent | LifecycleEventData | JobCompletedEvent | BlockJobEvent;

/** Decodes an addon event into its typed form. */
export function decodeEvent(e: NativeEvent): LibvirtEvent {
  if (e.type === 'close') {
    return { type: 'close', reason: nameOf(CLOSE_REASONS, e.reason) };
  }
  const domain = { name: e.domainName, uuid: e.domainUuid };
  switch (e.type) {
    case 'lifecycle':
      return {
        type: 'lifecycle',
        domain,
        event: nameOf(LIFECYCLE_EVENTS, e.event),
        detail: e.detail,
      };
    case 'job-completed':
      return {
        type: 'job-completed',
        domain,
        failed: e.stats['success'] === false || typeof e.stats['errmsg'] === 'string',
        stats: e.stats,
      };
    case 'block-job':
      return {
        type: 'block-job',
        domain,
        disk: e.disk,
        jobType: e.jobType,
        status: nameOf(BLOCK_JOB_STATUSES, e.status),
      };
  }
}
