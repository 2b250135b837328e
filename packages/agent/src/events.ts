/**
 * libvirt events of the agent's connection → the fleet's `AgentEventInfo`. Migration is told
 * apart by libvirt's detail numbers (virDomainEventStartedDetailType and friends).
 */
import type { AgentEventInfo, AgentEventKind } from '@virtvault/core';
import type { LibvirtEvent, LifecycleEvent } from '@virtvault/libvirt';

/** Words for libvirt's lifecycle detail numbers, per event (libvirt-domain.h). */
const DETAILS: Partial<Record<LifecycleEvent, readonly string[]>> = {
  defined: ['added', 'updated', 'renamed', 'from snapshot'],
  undefined: ['removed', 'renamed'],
  started: ['booted', 'migrated', 'restored', 'from snapshot', 'wakeup'],
  suspended: [
    'paused',
    'migrated',
    'I/O error',
    'watchdog',
    'restored',
    'from snapshot',
    'API error',
    'postcopy',
    'postcopy failed',
  ],
  resumed: ['unpaused', 'migrated', 'from snapshot', 'postcopy', 'postcopy failed'],
  stopped: ['shutdown', 'destroyed', 'crashed', 'migrated', 'saved', 'failed', 'from snapshot'],
  pmsuspended: ['memory', 'disk'],
  crashed: ['panicked', 'crashloaded'],
};

/** The detail number libvirt uses for "migrated" under started (in) and stopped (out). */
const MIGRATED = { started: 1, stopped: 3 } as const;

function detailWords(event: LifecycleEvent, detail: number): string {
  return DETAILS[event]?.[detail] ?? `detail ${detail}`;
}

function lifecycleKind(event: LifecycleEvent, detail: number): AgentEventKind | null {
  switch (event) {
    case 'started':
      return detail === MIGRATED.started ? 'migrated-in' : 'started';
    case 'stopped':
      return detail === MIGRATED.stopped ? 'migrated-out' : 'stopped';
    case 'crashed':
      return 'stopped';
    case 'pmsuspended':
      return 'suspended';
    case 'defined':
    case 'undefined':
    case 'suspended':
    case 'resumed':
      return event;
    default:
      // `shutdown` (the guest began shutting down) is followed by `stopped`; unknown ones are noise
      return null;
  }
}

/** The fleet event for a libvirt event, or null for those the fleet does not track. */
export function toAgentEvent(e: LibvirtEvent, host: string, atMs: number): AgentEventInfo | null {
  const base = { atMs, host };
  switch (e.type) {
    case 'close':
      return {
        ...base,
        domainUuid: '',
        domainName: '',
        kind: 'connection-lost',
        detail: `libvirt connection closed (${e.reason})`,
      };
    case 'lifecycle': {
      const kind = lifecycleKind(e.event, e.detail);
      if (kind === null) {
        return null;
      }
      const detail = `${e.event}: ${detailWords(e.event, e.detail)}`;
      return { ...base, domainUuid: e.domain.uuid, domainName: e.domain.name, kind, detail };
    }
    case 'job-completed': {
      const op = e.stats['operation'];
      const err = e.stats['errmsg'];
      const detail = [
        `operation ${typeof op === 'number' ? op : '?'}`,
        typeof err === 'string' ? err : '',
      ].filter((s) => s !== '');
      return {
        ...base,
        domainUuid: e.domain.uuid,
        domainName: e.domain.name,
        kind: e.failed ? 'job-failed' : 'job-completed',
        detail: detail.join(': '),
      };
    }
    default:
      // block-job events duplicate job-completed for our pull-mode backups
      return null;
  }
}
