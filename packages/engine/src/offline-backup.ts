/**
 * Backup of a stopped domain: the next checkpoint's bitmap added with `qemu-img bitmap --add`,
 * then every image served read-only by qemu-nbd at once (with the parent checkpoint's persistent
 * bitmap for incrementals; the servers, and for raw images a lock of our own, hold the images
 * against a start), and after the copy the
 * checkpoint metadata REDEFINEd in libvirt (see `offline-images.ts`).
 */
import path from 'node:path';

import type { ObservedDomain } from '@virtvault/core';
import { buildCheckpointXml, DomainXmlFlags, removeRunningBitmap } from '@virtvault/libvirt';

import { copyExport } from './disk-copy.js';
import { EngineError } from './errors.js';
import type { BackupJobOptions } from './job-options.js';
import { holdImages, type HeldImages } from './offline-images.js';
import { JOB_FILE_PREFIX, type PullBackupResult } from './pull-backup.js';

/** What one backup of a stopped domain needs. */
export interface OfflineBackupOptions extends BackupJobOptions {
  /** What was observed at the start of the run (disk paths and formats). */
  observed: ObservedDomain;
}

function hold(o: OfflineBackupOptions): Promise<HeldImages> {
  const base = path.join(path.resolve(o.scratchDir), `${JOB_FILE_PREFIX}${o.tag}`);
  const cp = o.newCheckpoint;
  return holdImages({
    domainName: o.domain.name,
    images: o.observed.disks.map((d) => ({
      target: d.target,
      source: d.source,
      format: d.format,
      full: o.fullDisks?.includes(d.target) === true,
    })),
    exportBitmap: o.incrementalFrom,
    newBitmap: cp === null ? null : { name: cp.name, targets: cp.disks },
    socketFor: (target) => `${base}-${target}.sock`,
    isActive: async () => (await o.domain.status()).active,
    removeLive: (target, bitmap) => removeRunningBitmap(o.domain, target, bitmap),
  });
}

async function copyAll(o: OfflineBackupOptions, held: HeldImages): Promise<void> {
  for (const d of o.observed.disks) {
    const socket = held.sockets.get(d.target) as string;
    const full = o.incrementalFrom === null || o.fullDisks?.includes(d.target) === true;
    const bitmapContext = full ? null : `qemu:dirty-bitmap:${o.incrementalFrom}`;
    // one connection: an offline incremental once hung with several on qemu-nbd (see notes)
    await copyExport(o, {
      socket,
      exportName: d.target,
      target: d.target,
      bitmapContext,
      connections: 1,
    });
  }
}

/**
 * Throws `DISKS_CHANGED` unless every disk to read is the domain's, as libvirt defines it now: the
 * images are opened and given bitmaps as root, so their paths are never taken from the request
 * alone (an agent's caller, or an observation gone stale: a disk swapped since).
 */
async function assertDisksAsObserved(o: OfflineBackupOptions): Promise<void> {
  const defined = (await o.domain.describe()).disks;
  for (const d of o.observed.disks) {
    const now = defined.find((x) => x.target === d.target);
    const format = now?.source?.format;
    if (now?.path !== d.source || (format !== undefined && format !== d.format)) {
      throw new EngineError(
        'DISKS_CHANGED',
        `disk ${d.target} of ${o.domain.name} is ${now?.path ?? 'gone'} (${format ?? '?'}) in ` +
          `libvirt, not ${d.source} (${d.format}) as observed: observe the domain again`,
      );
    }
  }
}

/** REDEFINEs the new checkpoint's metadata over the bitmaps {@link holdImages} added. */
async function redefineCheckpoint(o: OfflineBackupOptions, now: number): Promise<string | null> {
  const cp = o.newCheckpoint;
  if (cp === null) {
    return null;
  }
  try {
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
    await o.domain.checkpoints.delete(cp.name, { metadataOnly: true }).catch(() => undefined);
    throw new EngineError('CHECKPOINT_CREATE_FAILED', `offline checkpoint ${cp.name} failed`, {
      cause: e,
    });
  }
}

/**
 * Backs up a stopped domain. Its images stay locked (a start is refused) from before the first
 * byte is read until the last is; a start before the locks are held aborts the run cleanly.
 */
export async function offlineBackup(o: OfflineBackupOptions): Promise<PullBackupResult> {
  await assertDisksAsObserved(o);
  const held = await hold(o);
  let ok = false;
  try {
    o.onPhase?.('copying');
    await copyAll(o, held);
    await held.release();
    // a start from here on is harmless: the new bitmaps exist and record its writes
    const domainXml = await o.domain.xml(DomainXmlFlags.MIGRATABLE);
    // the last step that may fail, and it removes its own metadata when it does: a failure after
    // it would leave a checkpoint whose bitmaps the clean-up below removes
    const checkpointXml = await redefineCheckpoint(o, Date.now());
    ok = true;
    const notes = offlineNotes(o);
    return { checkpointXml, domainXml, consistency: 'crash', notes, ended: Promise.resolve(null) };
  } finally {
    await held.release();
    if (!ok) {
      await held.dropNewBitmaps();
    }
  }
}

function offlineNotes(o: OfflineBackupOptions): string[] {
  if (o.quiesce !== true) {
    return [];
  }
  return [
    'quiesce asked, but the domain is shut off (no guest agent to freeze): crash-consistent, ' +
      'as consistent as its last shutdown',
  ];
}
