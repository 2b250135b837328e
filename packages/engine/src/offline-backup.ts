/**
 * Backup of a stopped domain: each image served read-only by qemu-nbd (with the parent
 * checkpoint's persistent bitmap for incrementals), then the next checkpoint made the offline
 * way: `qemu-img bitmap --add` on every image and the checkpoint metadata REDEFINEd in libvirt.
 */
import path from 'node:path';

import type { ObservedDomain } from '@virtvault/core';
import { buildCheckpointXml, DomainXmlFlags, type Domain } from '@virtvault/libvirt';
import type { SnapshotWriter } from '@virtvault/repo';

import { copyExport, type DiskProgress } from './disk-copy.js';
import { EngineError } from './errors.js';
import { JOB_FILE_PREFIX, type PullBackupResult } from './pull-backup.js';
import { qemuImg } from './qemu-img.js';
import { QemuNbd } from './qemu-nbd.js';

/** What one backup of a stopped domain needs. */
export interface OfflineBackupOptions {
  /** The domain (shut off). */
  domain: Domain;
  /** What was observed at the start of the run (disk paths and formats). */
  observed: ObservedDomain;
  /** Writer, opened, with every disk started. */
  writer: SnapshotWriter;
  /** Repository slot size. */
  slotSize: number;
  /** Checkpoint (= bitmap name) to read changes since; null for a full. */
  incrementalFrom: string | null;
  /** Checkpoint to create, with the disks that get a bitmap; null for none. */
  newCheckpoint: { name: string; disks: string[] } | null;
  /** Directory for the sockets. */
  scratchDir: string;
  /** Unique tag (the snapshot id). */
  tag: string;
  /** Whether the parent's slot holds data, per disk. */
  parentHasData?: (target: string, slot: number) => boolean;
  /** Progress per disk. */
  onProgress?: (p: DiskProgress) => void;
  /** Cancels the backup. */
  signal?: AbortSignal;
}

async function copyImage(o: OfflineBackupOptions, target: string): Promise<void> {
  const disk = o.observed.disks.find((d) => d.target === target);
  if (disk === undefined) {
    throw new EngineError('DISK_UNSUPPORTED', `no observed disk ${target}`);
  }
  const socket = path.join(path.resolve(o.scratchDir), `${JOB_FILE_PREFIX}${o.tag}-${target}.sock`);
  const bitmap = o.incrementalFrom;
  const server = await QemuNbd.start({
    image: disk.source,
    format: disk.format,
    socket,
    exportName: target,
    readOnly: true,
    ...(bitmap !== null ? { bitmap } : {}),
  });
  try {
    const bitmapContext = bitmap !== null ? `qemu:dirty-bitmap:${bitmap}` : null;
    // one connection: an offline incremental once hung with several on qemu-nbd (see notes)
    await copyExport(o, { socket, exportName: target, target, bitmapContext, connections: 1 });
  } finally {
    await server.close();
  }
}

async function addCheckpoint(o: OfflineBackupOptions, now: number): Promise<string | null> {
  const cp = o.newCheckpoint;
  if (cp === null) {
    return null;
  }
  const added: string[] = [];
  try {
    for (const t of cp.disks) {
      const src = o.observed.disks.find((d) => d.target === t)?.source as string;
      await qemuImg(['bitmap', '--add', src, cp.name]);
      added.push(src);
    }
    const xml = buildCheckpointXml({
      name: cp.name,
      disks: o.observed.disks.map((d) => ({
        name: d.target,
        checkpoint: cp.disks.includes(d.target) ? ('bitmap' as const) : ('no' as const),
      })),
    }).replace('</name>', `</name><creationTime>${Math.floor(now / 1000)}</creationTime>`);
    await o.domain.checkpoints.create(xml, { redefine: true });
    return await o.domain.checkpoints.xml(cp.name);
  } catch (e) {
    for (const src of added) {
      await qemuImg(['bitmap', '--remove', src, cp.name]).catch(() => undefined);
    }
    await o.domain.checkpoints.delete(cp.name, { metadataOnly: true }).catch(() => undefined);
    throw new EngineError('CHECKPOINT_CREATE_FAILED', `offline checkpoint ${cp.name} failed`, {
      cause: e,
    });
  }
}

/** Backs up a stopped domain; aborts cleanly when the domain starts meanwhile. */
export async function offlineBackup(o: OfflineBackupOptions): Promise<PullBackupResult> {
  for (const d of o.observed.disks) {
    await copyImage(o, d.target);
  }
  const { active } = await o.domain.status();
  if (active) {
    throw new EngineError(
      'DOMAIN_STATE_CHANGED',
      `${o.domain.name} was started during its offline backup; the run is aborted`,
    );
  }
  const checkpointXml = await addCheckpoint(o, Date.now());
  const domainXml = await o.domain.xml(DomainXmlFlags.MIGRATABLE);
  return { checkpointXml, domainXml };
}
