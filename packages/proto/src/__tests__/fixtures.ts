/** Core values with every field set (nulls and non-nulls both), for the round-trip tests. */
import type {
  AgentEventInfo,
  HostInfo,
  InventoryDomain,
  ObservedDomain,
  SnapshotManifest,
} from '@virtvault/core';

import type { AgentBackupRequest } from '../agent-api.js';

/** A running domain with two disks, one without a node name, and a checkpoint chain. */
export const OBSERVED: ObservedDomain = {
  host: 'host-a',
  domain: {
    uuid: '5b0a3c1e-6f0e-4f4e-9a57-3c2a1d0e9f11',
    name: 'web1',
    state: 'running',
    transient: false,
  },
  disks: [
    {
      target: 'vda',
      source: '/var/lib/libvirt/images/web1-vda.qcow2',
      format: 'qcow2',
      virtualSize: 64 * 2 ** 30,
      nodeName: 'libvirt-1-format',
      bitmapsSupported: true,
      bitmaps: [
        { name: 'vv-01A', recording: true, persistent: true, inconsistent: false, busy: false },
        { name: 'other', recording: false, persistent: true, inconsistent: true, busy: true },
      ],
    },
    {
      target: 'vdb',
      source: '/dev/vg/web1-data',
      format: 'raw',
      virtualSize: 10 * 2 ** 40,
      nodeName: null,
      bitmapsSupported: false,
      bitmaps: [],
    },
  ],
  checkpoints: [
    { name: 'vv-01A', parent: null },
    { name: 'vv-01B', parent: 'vv-01A' },
  ],
};

/** An incremental's manifest. */
export const MANIFEST: SnapshotManifest = {
  format: 'virtvault-snapshot',
  version: 1,
  id: '01JDQ3ZK7G5X0000000000000B',
  domain: { uuid: OBSERVED.domain.uuid, name: 'web1' },
  host: 'host-a',
  level: 'incremental',
  reasons: ['CHECKPOINT_REDEFINED', 'DOMAIN_MIGRATED'],
  checkpoint: { name: 'vv-01B', xml: '<domaincheckpoint><name>vv-01B</name></domaincheckpoint>' },
  parent: '01JDQ3ZK7G5X0000000000000A',
  domainXml: '<domain type="kvm"><name>web1</name></domain>',
  disks: [
    {
      target: 'vda',
      source: '/var/lib/libvirt/images/web1-vda.qcow2',
      format: 'qcow2',
      virtualSize: 64 * 2 ** 30,
      index: 'vda.index',
      indexSha256: 'a'.repeat(64),
      bytesRead: 3 * 2 ** 20,
      bytesNew: 2 ** 20,
    },
  ],
  startedAt: '2026-11-25T10:00:00.000Z',
  endedAt: '2026-11-25T10:00:09.000Z',
  toolVersion: '0.1.0',
  consistency: 'filesystem',
};

/** A full without checkpoint or parent. */
export const MANIFEST_FULL: SnapshotManifest = {
  ...MANIFEST,
  id: '01JDQ3ZK7G5X0000000000000A',
  level: 'full',
  reasons: ['NO_PARENT'],
  checkpoint: null,
  parent: null,
  consistency: 'crash',
};

/** An incremental backup request. */
export const BACKUP: AgentBackupRequest = {
  runId: 'run-1',
  repository: 'main',
  snapshotId: MANIFEST.id,
  observed: OBSERVED,
  level: 'incremental',
  parentSnapshot: MANIFEST.parent,
  incrementalFrom: 'vv-01A',
  newCheckpoint: { name: 'vv-01B', disks: ['vda'], mode: 'live' },
  reasons: ['CHECKPOINT_REDEFINED'],
  quiesce: true,
};

/** A full backup request (nulls everywhere the wire has empty strings). */
export const BACKUP_FULL: AgentBackupRequest = {
  ...BACKUP,
  level: 'full',
  parentSnapshot: null,
  incrementalFrom: null,
  newCheckpoint: null,
  reasons: ['NO_PARENT'],
};
delete BACKUP_FULL.quiesce;

/** Host info with values past 32 bits. */
export const HOST: HostInfo = {
  hostName: 'host-a',
  agentVersion: '0.1.0',
  libvirtVersion: '9.0.0',
  hypervisorVersion: '7.2.0',
  libvirtUri: 'qemu:///system',
  repositories: ['main', 'offsite'],
  maxConcurrentBackups: 2,
  runningBackups: 1,
  cpus: 64,
  memoryBytes: 512 * 2 ** 30,
  startedAtMs: 1_795_654_629_439,
};

/** An inventory domain. */
export const INVENTORY: InventoryDomain = {
  uuid: OBSERVED.domain.uuid,
  name: 'web1',
  state: 'paused',
  transient: true,
  tags: ['web', 'db'],
  disks: OBSERVED.disks,
  checkpoints: OBSERVED.checkpoints,
};

/** A migration event. */
export const EVENT: AgentEventInfo = {
  atMs: 1_795_654_629_439,
  host: 'host-a',
  domainUuid: OBSERVED.domain.uuid,
  domainName: 'web1',
  kind: 'migrated-in',
  detail: 'started: migrated',
};
