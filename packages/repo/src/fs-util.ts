import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';

import { isErrno } from './errors.js';

/** A unique temp name next to `target` (same folder, so the final rename is atomic). */
export function tempNameFor(target: string): string {
  const base = path.basename(target);
  return path.join(
    path.dirname(target),
    `.tmp-${base}-${process.pid}-${randomBytes(6).toString('hex')}`,
  );
}

/** Writes `data` to `target` atomically: temp file in the same folder, fsync, rename, fsync folder. */
export async function writeFileAtomic(target: string, data: Uint8Array | string): Promise<void> {
  const tmp = tempNameFor(target);
  await writeNewDurable(tmp, data);
  try {
    await fsp.rename(tmp, target);
  } catch (e) {
    await fsp.rm(tmp, { force: true });
    throw e;
  }
  await fsyncDir(path.dirname(target));
}

/** Errors of a filesystem without hard links (some SMB/CIFS and FUSE mounts). */
const NO_LINKS = ['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS'];

/**
 * Creates `target` holding `data`, atomically and exclusively: readers see no file or the whole of
 * it (a plain `wx` write showed another host an empty config.json), and of two creators exactly one
 * wins (`link` fails with EEXIST where `rename` would replace). Returns false when `target` existed.
 * Where the filesystem has no hard links, falls back to an exclusive create and write (exclusive,
 * not atomic). `link` is a parameter for tests only.
 */
export async function createFileAtomic(
  target: string,
  data: string,
  link: (from: string, to: string) => Promise<void> = fsp.link,
): Promise<boolean> {
  const tmp = tempNameFor(target);
  await writeNewDurable(tmp, data);
  let failure: { error: unknown } | undefined;
  try {
    await link(tmp, target);
  } catch (e) {
    failure = { error: e };
  } finally {
    // gone before any write in place, so that write has the temp's room too
    await fsp.rm(tmp, { force: true });
  }
  if (failure === undefined) {
    await fsyncDir(path.dirname(target));
    return true;
  }
  if (isErrno(failure.error, 'EEXIST')) {
    return false;
  }
  if (!NO_LINKS.some((code) => isErrno(failure.error, code))) {
    throw failure.error;
  }
  return createExclusive(target, data);
}

/** Creates `target` with `data` unless it exists (then false); fsyncs it and its folder. */
async function createExclusive(target: string, data: string): Promise<boolean> {
  try {
    await writeNewDurable(target, data);
  } catch (e) {
    if (isErrno(e, 'EEXIST')) {
      return false;
    }
    throw e;
  }
  await fsyncDir(path.dirname(target));
  return true;
}

/**
 * Creates `p` (failing with EEXIST if it exists), writes `data` and fsyncs it. A failed write (a
 * full disk) removes the file it created: a temp left behind, or a half-written file in place
 * where there are no hard links.
 */
async function writeNewDurable(p: string, data: Uint8Array | string): Promise<void> {
  const fh = await fsp.open(p, 'wx');
  try {
    await fh.writeFile(data);
    await fh.sync();
  } catch (e) {
    await fh.close().catch(() => undefined);
    await fsp.rm(p, { force: true });
    throw e;
  }
  await fh.close();
}

/** Writes `data` to a new temp file next to `target` and returns its name; none is left on failure. */
export async function writeTempFor(target: string, data: string): Promise<string> {
  const tmp = tempNameFor(target);
  try {
    await fsp.writeFile(tmp, data, { flag: 'wx' });
  } catch (e) {
    await fsp.rm(tmp, { force: true });
    throw e;
  }
  return tmp;
}

/** Makes a folder's entries durable (best effort on filesystems that refuse to fsync folders). */
export async function fsyncDir(dir: string): Promise<void> {
  let fh: fsp.FileHandle | undefined;
  try {
    fh = await fsp.open(dir, 'r');
    await fh.sync();
  } catch (e) {
    // Some filesystems (and some NFS clients) reject fsync on a directory; the data files are synced.
    if (!isErrno(e, 'EINVAL') && !isErrno(e, 'EISDIR') && !isErrno(e, 'EPERM')) {
      throw e;
    }
  } finally {
    await fh?.close();
  }
}

/** Reads a file, or returns null when it does not exist. */
export async function readIfExists(p: string): Promise<Buffer | null> {
  try {
    return await fsp.readFile(p);
  } catch (e) {
    if (isErrno(e, 'ENOENT')) {
      return null;
    }
    throw e;
  }
}

/** Lists a folder, or returns [] when it does not exist. */
export async function listDir(p: string): Promise<string[]> {
  try {
    return await fsp.readdir(p);
  } catch (e) {
    if (isErrno(e, 'ENOENT') || isErrno(e, 'ENOTDIR')) {
      return [];
    }
    throw e;
  }
}

/**
 * True when `p` exists, false when it does not (ENOENT, ENOTDIR); any other error (EIO, ESTALE,
 * EACCES) is thrown: a manifest that could not be looked at is not a manifest that is absent, and
 * callers delete what has none.
 */
export async function pathExists(p: string): Promise<boolean> {
  try {
    await fsp.stat(p);
    return true;
  } catch (e) {
    if (isErrno(e, 'ENOENT') || isErrno(e, 'ENOTDIR')) {
      return false;
    }
    throw e;
  }
}
