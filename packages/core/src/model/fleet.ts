/**
 * Fleet types: what agents report about their hosts and domains (the agent API in core terms).
 */
import type { DomainRunState, ObservedCheckpoint, ObservedDisk } from './observed.js';

/** Who and what one agent is. */
export interface HostInfo {
  /** Host name the agent's certificate names and the lineage records. */
  hostName: string;
  /** virtvault version of the agent. */
  agentVersion: string;
  /** libvirt library version, e.g. `9.0.0`. */
  libvirtVersion: string;
  /** Hypervisor version, e.g. `7.2.0`. */
  hypervisorVersion: string;
  /** libvirt URI the agent drives. */
  libvirtUri: string;
  /** Repository names the agent can write into. */
  repositories: string[];
  /** Backups the agent runs at once at most. */
  maxConcurrentBackups: number;
  /** Backups running now. */
  runningBackups: number;
  /** CPUs of the host. */
  cpus: number;
  /** Memory of the host, bytes. */
  memoryBytes: number;
  /** Agent process start, epoch ms. */
  startedAtMs: number;
}

/** One domain as the fleet inventory keeps it. */
export interface InventoryDomain {
  /** UUID. */
  uuid: string;
  /** Name. */
  name: string;
  /** Run state. */
  state: DomainRunState;
  /** Transient (no persistent definition). */
  transient: boolean;
  /** Policy selector tags from the domain's virtvault metadata. */
  tags: string[];
  /** Disks with their bitmaps. */
  disks: ObservedDisk[];
  /** Checkpoints libvirt knows. */
  checkpoints: ObservedCheckpoint[];
}

/** Kinds of agent events. */
export type AgentEventKind =
  | 'defined'
  | 'undefined'
  | 'started'
  | 'stopped'
  | 'suspended'
  | 'resumed'
  | 'migrated-in'
  | 'migrated-out'
  | 'job-completed'
  | 'job-failed'
  | 'connection-lost';

/** One event of an agent's host. */
export interface AgentEventInfo {
  /** Epoch ms. */
  atMs: number;
  /** Host. */
  host: string;
  /** Domain UUID (empty for host-wide events). */
  domainUuid: string;
  /** Domain name. */
  domainName: string;
  /** Kind. */
  kind: AgentEventKind;
  /** libvirt's detail, in words. */
  detail: string;
}

/** API token roles, weakest first: viewer reads, operator also runs backups and edits policies, admin all. */
export const TOKEN_ROLES = ['viewer', 'operator', 'admin'] as const;

/** An API token role. */
export type TokenRole = (typeof TOKEN_ROLES)[number];
