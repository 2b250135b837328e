/**
 * Host info, inventory domains and events: core fleet types ⇄ wire messages.
 */
import type { AgentEventInfo, HostInfo, InventoryDomain } from '@virtvault/core';

import { oneOf } from '../errors.js';
import type {
  AgentEvent as EventMsg,
  AgentEvent__Output as EventOut,
} from '../generated/virtvault/agent/v1/AgentEvent.js';
import type {
  DomainSummary as SummaryMsg,
  DomainSummary__Output as SummaryOut,
} from '../generated/virtvault/agent/v1/DomainSummary.js';
import type {
  HostInfo as HostInfoMsg,
  HostInfo__Output as HostInfoOut,
} from '../generated/virtvault/agent/v1/HostInfo.js';

import { EVENT_KINDS, runState } from './enums.js';
import { checkpointFromMsg, checkpointToMsg, diskFromMsg, diskToMsg } from './observed.js';

/** Host info → wire. */
export function hostInfoToMsg(h: HostInfo): HostInfoMsg {
  return { ...h, repositories: [...h.repositories] };
}

/** Wire → host info. */
export function hostInfoFromMsg(m: HostInfoOut): HostInfo {
  return {
    hostName: m.hostName,
    agentVersion: m.agentVersion,
    libvirtVersion: m.libvirtVersion,
    hypervisorVersion: m.hypervisorVersion,
    libvirtUri: m.libvirtUri,
    repositories: [...m.repositories],
    maxConcurrentBackups: m.maxConcurrentBackups,
    runningBackups: m.runningBackups,
    cpus: m.cpus,
    memoryBytes: m.memoryBytes,
    startedAtMs: m.startedAtMs,
  };
}

/** Inventory domain → wire. */
export function inventoryToMsg(d: InventoryDomain): SummaryMsg {
  return {
    uuid: d.uuid,
    name: d.name,
    state: d.state,
    transient: d.transient,
    tags: [...d.tags],
    disks: d.disks.map(diskToMsg),
    checkpoints: d.checkpoints.map(checkpointToMsg),
  };
}

/** Wire → inventory domain; `BAD_MESSAGE` for an unknown state. */
export function inventoryFromMsg(m: SummaryOut): InventoryDomain {
  return {
    uuid: m.uuid,
    name: m.name,
    state: runState('DomainSummary.state', m.state),
    transient: m.transient,
    tags: [...m.tags],
    disks: m.disks.map(diskFromMsg),
    checkpoints: m.checkpoints.map(checkpointFromMsg),
  };
}

/** Event → wire. */
export function eventToMsg(e: AgentEventInfo): EventMsg {
  return { ...e };
}

/** Wire → event; `BAD_MESSAGE` for an unknown kind. */
export function eventFromMsg(m: EventOut): AgentEventInfo {
  return {
    atMs: m.atMs,
    host: m.host,
    domainUuid: m.domainUuid,
    domainName: m.domainName,
    kind: oneOf('AgentEvent.kind', m.kind, EVENT_KINDS),
    detail: m.detail,
  };
}
