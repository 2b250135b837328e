/**
 * The images of a stopped domain, locked against a start for the whole copy.
 *
 * QEMU locks images: a read-only `qemu-nbd` serving a qcow2 image does not share the write
 * permission, so while it holds the image `virsh start` fails (`Failed to get "write" lock`).
 * Serving a raw image (file or block device) it shares everything, so those are held by a lock of
 * our own that QEMU honours (`image-lock.ts`). Images are held in the definition's order (a
 * start opens them in that order and must stop at the first). The new checkpoint's bitmap is added
 * with `qemu-img bitmap --add` *before* the servers start: from then on every write to the image
 * (by anyone who opens it, a started domain included) is recorded in it, so a start after the copy
 * cannot escape the next incremental, and no unlocked window remains between copy and bitmap.
 * A start that slips in before the servers hold their locks makes a server fail; the domain is
 * then found running and the attempt ends as `DOMAIN_STARTED_DURING_BACKUP` with the new bitmaps
 * removed again.
 */
import { hasErrorCode } from '@virtvault/core';

import { EngineError } from './errors.js';
import { canLockImages, type ImageWriteLock, lockAgainstWriters } from './image-lock.js';
import { bitmapArgs, qemuImg } from './qemu-img.js';
import { QemuNbd } from './qemu-nbd.js';

/** One image of a stopped domain. */
export interface OfflineImage {
  /** Disk target, also the NBD export name. */
  target: string;
  /** Image file. */
  source: string;
  /** Image format. */
  format: string;
  /** Read in full even in an incremental: the image holds no bitmap (raw, qcow2 v2). */
  full?: boolean;
}

/** Options of {@link holdImages}. */
export interface HoldImagesOptions {
  /** The domain's name, for messages. */
  domainName: string;
  /** Every image to copy. */
  images: OfflineImage[];
  /** Bitmap to export as `qemu:dirty-bitmap:<name>` (the parent checkpoint's), or null. */
  exportBitmap: string | null;
  /** Bitmap to add (the new checkpoint's) and the targets that get it, or null. */
  newBitmap: { name: string; targets: string[] } | null;
  /** The unix socket of one target's server. */
  socketFor: (target: string) => string;
  /** Whether the domain runs now. */
  isActive: () => Promise<boolean>;
  /** Removes a bitmap from a disk of the running domain (QMP): a started QEMU holds the image. */
  removeLive: (target: string, bitmap: string) => Promise<void>;
  /** Called just before a bitmap is added to `target` (tests: what a start would meet then). */
  beforeBitmapAdd?: (target: string) => Promise<void>;
}

/** Locked images being served; `release()` ends the lock. */
export interface HeldImages {
  /** The NBD socket of each target. */
  sockets: ReadonlyMap<string, string>;
  /** Stops every server (the domain may start from then on). Idempotent. */
  release(): Promise<void>;
  /** Removes the new bitmaps again (the attempt failed); never throws. */
  dropNewBitmaps(): Promise<void>;
}

/** Removes `bitmap` from the images: through QEMU when the domain runs, else with qemu-img. */
async function removeBitmaps(o: HoldImagesOptions, added: OfflineImage[]): Promise<void> {
  const name = o.newBitmap?.name;
  if (name === undefined || added.length === 0) {
    return;
  }
  const live = await o.isActive().catch(() => false);
  for (const img of added) {
    // what is left over is an orphan of ours, which the next run's planner cleans up
    await (
      live
        ? o.removeLive(img.target, name)
        : qemuImg(bitmapArgs('--remove', img.source, img.format, name))
    )
      .then(() => undefined)
      .catch(() => undefined);
  }
}

/**
 * Adds the new bitmap to the images that get one, the first image last and held against writers
 * meanwhile. A start opens the disks in the definition's order, each for writing, and a qcow2
 * image opened for writing has its bitmaps marked in use until QEMU closes it; a start that
 * failed on the lock of a later disk (qemu-img working on it) exited without closing the earlier
 * ones, and left every bitmap of theirs inconsistent: the next backup a full, the chain broken
 * (reproduced with qemu-system-x86_64 and two -blockdev images, the second locked). Held, the
 * first image refuses such a start before anything is opened.
 */
async function addBitmaps(o: HoldImagesOptions, added: OfflineImage[]): Promise<void> {
  const nb = o.newBitmap;
  if (nb === null) {
    return;
  }
  const [first, ...rest] = o.images;
  const later = rest.filter((i) => nb.targets.includes(i.target));
  const guard = first !== undefined && later.length > 0 && canLockImages();
  const held = guard ? lockAgainstWriters(first.source) : null;
  try {
    for (const img of later) {
      await o.beforeBitmapAdd?.(img.target);
      await qemuImg(bitmapArgs('--add', img.source, img.format, nb.name));
      added.push(img);
    }
  } finally {
    held?.release();
  }
  if (first !== undefined && nb.targets.includes(first.target)) {
    await o.beforeBitmapAdd?.(first.target);
    await qemuImg(bitmapArgs('--add', first.source, first.format, nb.name));
    added.push(first);
  }
}

/**
 * Holds and serves every image read-only, one after the other in the definition's order, so that
 * what is held is always a first run of the disks: a start then stops at the first disk, before it
 * opens any other for writing (see `addBitmaps`). qemu-nbd holds a qcow2 image itself (its driver
 * shares no writes under it), never a raw one, which gets our lock just before its server.
 */
async function serveAll(
  o: HoldImagesOptions,
  servers: QemuNbd[],
  locks: ImageWriteLock[],
): Promise<void> {
  for (const img of o.images) {
    if (img.format !== 'qcow2') {
      locks.push(lockAgainstWriters(img.source));
    }
    const bitmap = o.exportBitmap !== null && img.full !== true ? o.exportBitmap : null;
    const started = QemuNbd.start({
      image: img.source,
      format: img.format,
      socket: o.socketFor(img.target),
      exportName: img.target,
      readOnly: true,
      ...(bitmap !== null ? { bitmap } : {}),
    });
    servers.push(
      await started.catch((e: unknown) => {
        throw bitmapRefusal(e, bitmap);
      }),
    );
  }
}

/**
 * qemu-nbd refusing the parent's bitmap ("Bitmap 'x' is not found", or one in use after a QEMU
 * that died) is the offline form of libvirt refusing an incremental at the job's start: the
 * bitmap changed since the plan looked. `INCREMENTAL_REJECTED` has the run look again and go on
 * (a full, with the cause), where `QEMU_NBD_FAILED` failed the night.
 */
function bitmapRefusal(e: unknown, bitmap: string | null): Error {
  const err = e instanceof Error ? e : new Error(String(e));
  const msg = err.message;
  if (bitmap === null || !hasErrorCode(e, 'QEMU_NBD_FAILED') || !/bitmap/i.test(msg)) {
    return err;
  }
  return new EngineError('INCREMENTAL_REJECTED', `qemu-nbd refused bitmap ${bitmap}: ${msg}`, {
    cause: e,
  });
}

/**
 * Adds the new bitmap to every image, then holds every image against writers and serves it
 * read-only.
 * Throws `DOMAIN_STARTED_DURING_BACKUP` when the domain started before all locks were held;
 * on any failure nothing of the attempt is left (servers stopped, new bitmaps removed).
 */
export async function holdImages(o: HoldImagesOptions): Promise<HeldImages> {
  const added: OfflineImage[] = [];
  const servers: QemuNbd[] = [];
  const locks: ImageWriteLock[] = [];
  try {
    await addBitmaps(o, added);
    await serveAll(o, servers, locks);
    if (await o.isActive()) {
      throw new Error('the domain is running although its images are locked');
    }
  } catch (e) {
    await Promise.all(servers.map((s) => s.close()));
    locks.forEach((l) => l.release());
    await removeBitmaps(o, added);
    if (await o.isActive().catch(() => false)) {
      throw new EngineError(
        'DOMAIN_STARTED_DURING_BACKUP',
        `${o.domainName} was started during its offline backup; the run is aborted (nothing kept)`,
        { cause: e },
      );
    }
    throw e;
  }
  const sockets = new Map(o.images.map((i) => [i.target, o.socketFor(i.target)]));
  const release = async (): Promise<void> => {
    await Promise.all(servers.map((s) => s.close()));
    locks.forEach((l) => l.release());
  };
  return { sockets, release, dropNewBitmaps: () => removeBitmaps(o, added) };
}
