/**
 * Holds an image against writers as QEMU understands it: a shared lock on the byte of QEMU's file
 * locking protocol that means "an opener here does not share writes" (its `RAW_LOCK_SHARED_BASE`,
 * 200, plus the bit of the write permission, 1). While it is held, a QEMU that opens the image for
 * writing (a `virsh start`) fails with `Failed to get "write" lock`, and readers (qemu-nbd,
 * `qemu-img info`) are not hindered. A read-only qemu-nbd holds this for a qcow2 image, not for a
 * raw one (file or block device): a stopped domain whose disks were all raw could be started in
 * the middle of its offline backup, and the copy mixed old and new blocks. The addon is built by
 * `npm ci` (`native/image-lock.c`).
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { constants } from 'node:os';

import { EngineError } from './errors.js';

interface ImageLockAddon {
  lockByte(fd: number, offset: number): number;
  lockedByOthers(fd: number, offset: number): number;
}

/** QEMU's lock byte for "write not shared" (file-posix: RAW_LOCK_SHARED_BASE + BLK_PERM_WRITE's bit). */
export const QEMU_WRITE_NOT_SHARED_BYTE = 201;
/** QEMU's lock byte for "has the write permission" (RAW_LOCK_PERM_BASE + BLK_PERM_WRITE's bit). */
export const QEMU_WRITE_PERM_BYTE = 101;

let addon: ImageLockAddon | null | undefined;

/** The addon, loaded on first use; null when it was not built. */
function loadAddon(): ImageLockAddon | null {
  if (addon === undefined) {
    try {
      addon = createRequire(import.meta.url)(
        '../build/Release/virtvault_image_lock.node',
      ) as ImageLockAddon;
    } catch {
      addon = null;
    }
  }
  return addon;
}

/** Whether images can be held against writers here (the addon was built). */
export function canLockImages(): boolean {
  return loadAddon() !== null;
}

/** An image held against writers; `release()` lets them in again. */
export interface ImageWriteLock {
  /** Ends the hold. Idempotent. */
  release(): void;
}

/**
 * Holds `image` against writers until `release()`. Throws `DISK_IN_USE` when a process has it open
 * for writing now (a running QEMU), and `IMAGE_LOCK_UNAVAILABLE` when the addon was not built.
 */
export function lockAgainstWriters(image: string): ImageWriteLock {
  const native = loadAddon();
  if (native === null) {
    throw new EngineError(
      'IMAGE_LOCK_UNAVAILABLE',
      'the image-lock addon was not built (run the install again: npm ci builds it)',
    );
  }
  // libuv opens every file close-on-exec: the qemu-nbd started next does not inherit the lock
  const fd = fs.openSync(image, 'r');
  // QEMU's own order: take the lock, then look for the other side's, so that of two openers
  // racing, at least one sees the other
  const err = native.lockByte(fd, QEMU_WRITE_NOT_SHARED_BYTE);
  const writer = err === 0 ? native.lockedByOthers(fd, QEMU_WRITE_PERM_BYTE) : 0;
  if (err !== 0 || writer !== 0) {
    fs.closeSync(fd);
    // a writer has the image open (1), or a lock of another opener is in the way
    const busy = writer === 1 || err === constants.errno.EAGAIN || err === constants.errno.EACCES;
    const errno = err !== 0 ? err : -writer;
    throw busy
      ? new EngineError('DISK_IN_USE', `image ${image} is open for writing by another process`)
      : new EngineError(
          'IMAGE_LOCK_FAILED',
          `image ${image} could not be locked against writers (errno ${errno})`,
        );
  }
  let open = true;
  return {
    release: () => {
      if (open) {
        open = false;
        // an open file description lock ends with the description
        fs.closeSync(fd);
      }
    },
  };
}
