/**
 * Publishing a writer's new chunks: they were written to temp files without fsync; before the
 * writer commits, all of them are made durable at once, renamed into place, and the renames made
 * durable. The order is what makes a chunk's name a promise of its content: a name only ever
 * appears for bytes already on disk, so a crash can leave temps (GC removes them) but never a
 * named chunk with missing content that a later backup would dedup against.
 *
 * Why not fsync per file: one fsync per 4 MiB or 64 KiB chunk cost more than a third of an
 * incremental's time (bench/fsync-cost.mjs: 1,000 files, 0.7-1.1 s of fsyncs against 0.09-0.17 s
 * for one `syncfs`). Proxmox Backup Server's datastores default to the same `syncfs` model.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';

import { runPool } from '@virtvault/core';

import { fsyncDir } from './fs-util.js';
import { syncFilesystem } from './syncfs.js';

/** A chunk written to a temp file, waiting to be published. */
export interface TempChunk {
  /** The temp file. */
  temp: string;
  /** The chunk's final path. */
  target: string;
}

/** How many fsyncs run at once where `syncfs` is refused (libuv's pool has four threads). */
const PARALLEL = 8;

/** Renames `[from, to]` pairs (the chunk pool's workers do it synchronously; see `RenameJob`). */
export type RenameAll = (pairs: [string, string][]) => Promise<void>;

/**
 * Makes `chunks` durable, renames them into place (through `renameAll`), and makes the renames
 * durable.
 */
export async function publishChunks(
  root: string,
  chunks: readonly TempChunk[],
  renameAll: RenameAll,
): Promise<void> {
  if (chunks.length === 0) {
    return;
  }
  await syncOrFallback(root, () => eachLimited(chunks, (c) => fsyncFile(c.temp)));
  await renameAll(chunks.map((c) => [c.temp, c.target]));
  const dirs = [...new Set(chunks.map((c) => path.dirname(c.target)))];
  await syncOrFallback(root, () => eachLimited(dirs, fsyncDir));
}

/** Removes temp files of chunks that will not be published (best effort: GC removes leftovers). */
export async function discardTemps(temps: readonly string[]): Promise<void> {
  await eachLimited(temps, (t) => fsp.rm(t, { force: true }).catch(() => undefined));
}

/** {@link syncFilesystem} of `root`; where that fails, `fallback` syncs file by file. */
async function syncOrFallback(root: string, fallback: () => Promise<void>): Promise<void> {
  if (!(await syncFilesystem(root))) {
    await fallback();
  }
}

async function fsyncFile(p: string): Promise<void> {
  const fh = await fsp.open(p, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Runs `fn` over `items`, at most {@link PARALLEL} at a time (see `runPool`). */
function eachLimited<T>(items: readonly T[], fn: (t: T) => Promise<unknown>): Promise<void> {
  return runPool(items, PARALLEL, async (t) => {
    await fn(t);
  });
}
