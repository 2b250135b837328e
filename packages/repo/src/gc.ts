import { promises as fsp } from 'node:fs';
import path from 'node:path';

import { RepoError, throwIfInterrupted } from './errors.js';
import { decodeChunkHeader } from './format/chunk-header.js';
import {
  CHUNK_HEADER_BYTES,
  ChunkKind,
  PATCH_MAX_FILE_BYTES,
  ZERO_DIGEST_HEX,
} from './format/constants.js';
import { DiskIndex } from './format/index-file.js';
import { listDir, pathExists, readIfExists } from './fs-util.js';
import { removeStaleTemps, restoreLeftover, sweepChunks } from './gc-sweep.js';
import { Lease, readLeases, removeExpiredWriterLeases, type LeaseRecord } from './lease.js';
import type { Repository } from './repository.js';
import { chunkKind, readPatch } from './resolve.js';

/** Options of {@link collectGarbage}. */
export interface GcOptions {
  /** Clock skew allowed between hosts (default 60 s): chunks younger than the cutoff minus this stay. */
  skewMarginMs?: number;
  /** Report only; delete nothing. */
  dryRun?: boolean;
  /** Host name recorded in the GC lease. */
  host?: string;
  /**
   * Stops the GC between chunks with `REPO_INTERRUPTED` (its lease released). What it swept by
   * then was unreferenced; the rest waits for the next GC.
   */
  signal?: AbortSignal;
}

/** What GC did. */
export interface GcReport {
  /** Distinct chunks reachable from any index (committed or in progress). */
  marked: number;
  /** Chunks removed. */
  swept: number;
  /** Bytes of chunk files removed. */
  sweptBytes: number;
  /** Aborted snapshot folders removed (`<domain>/<id>`). */
  removedSnapshots: string[];
  /** Temp files removed. */
  removedTemps: number;
  /**
   * Quarantined chunks (`<digest>.bad`, moved aside by verify) removed: stored whole again by a
   * later backup, or named by no snapshot any more.
   */
  removedBad: number;
  /**
   * Chunks in use that could not be read while marking (missing, damaged, quarantined by verify,
   * or an I/O error) and may be patches whose base and ranges are live, so nothing was swept.
   * Removing the snapshots that use them (verify names them) lets the next GC sweep. A data chunk
   * verify moved aside (its header says so) names nothing and is not counted here.
   */
  unreadable: string[];
  /**
   * Index files that could not be read (`<domain>/<id>/<disk>.index`, damaged): the chunks they
   * name are unknown, so nothing was swept. Removing those snapshots lets the next GC sweep.
   */
  unreadableIndexes: string[];
  /** Only chunks last written or touched before this time (ms) were candidates. */
  cutoff: number;
}

interface GcContext {
  repo: Repository;
  signal: AbortSignal | undefined;
  marked: Set<string>;
  readFiles: Map<string, number>;
  unreadable: string[];
  unreadableIndexes: Set<string>;
}

/**
 * Why a GC removed no chunk, for the user (what it could not read and what to do), or null when
 * it swept.
 */
export function gcIncomplete(r: GcReport): string | null {
  const why: string[] = [];
  if (r.unreadableIndexes.length > 0) {
    why.push(`the indexes ${r.unreadableIndexes.join(', ')} cannot be read`);
  }
  if (r.unreadable.length > 0) {
    const some = r.unreadable.slice(0, 3).join(', ');
    const more = r.unreadable.length > 3 ? ` and ${r.unreadable.length - 3} more` : '';
    why.push(`${r.unreadable.length} chunks in use cannot be read (${some}${more})`);
  }
  if (why.length === 0) {
    return null;
  }
  return (
    `no chunk removed: ${why.join('; ')}, so the chunks they lead to are unknown; ` +
    "find the snapshots using them ('virtvault verify'), remove those ('virtvault forget') " +
    'and run gc again'
  );
}

/**
 * Mark and sweep, exclusive against other GCs (the `gc` lease) but safe beside running writers:
 * aborted snapshots (no manifest, no live writer lease) are removed first; every digest named by any
 * index or inherited base index is marked, through patches; the marking is repeated for folders that
 * changed meanwhile; then unmarked chunks older than the oldest live writer lease (minus the skew
 * margin) are swept. A sweep moves the chunk aside, re-checks its mtime (writers touch chunks they
 * reuse) and puts it back when it was touched.
 */
export async function collectGarbage(repo: Repository, opts: GcOptions = {}): Promise<GcReport> {
  const lease = await Lease.acquire(repo, {
    kind: 'gc',
    ...(opts.host !== undefined ? { host: opts.host } : {}),
  });
  try {
    const now = repo.options.now();
    const margin = opts.skewMarginMs ?? 60_000;
    // a writer's lease counts as live for the margin past its expiry too: its expiry is its own
    // host's clock, and this one may run ahead of it
    const expired = now - margin;
    const live = (await readLeases(repo)).filter(
      (l) => l.kind === 'writer' && l.expiresAt >= expired,
    );
    const cutoff = Math.min(now, ...live.map((l) => l.startedAt)) - margin;
    const removedSnapshots = await removeAborted(repo, expired, opts.dryRun === true);
    const ctx: GcContext = {
      repo,
      signal: opts.signal,
      marked: new Set(),
      readFiles: new Map(),
      unreadable: [],
      unreadableIndexes: new Set(),
    };
    await markPass(ctx);
    await markPass(ctx); // catches indexes published while the first pass ran
    if (lease.lost) {
      throw new RepoError('REPO_LEASE_LOST', 'GC lease lost before sweeping');
    }
    // an index that cannot be read may name any chunk, and a chunk that cannot be read may be a
    // patch whose base and ranges are live: sweeping then could free data a snapshot needs
    const sweep =
      ctx.unreadableIndexes.size > 0 || ctx.unreadable.length > 0
        ? { swept: 0, sweptBytes: 0, removedTemps: 0, removedBad: 0 }
        : await sweepChunks(ctx, cutoff, opts.dryRun === true);
    sweep.removedTemps += await removeStaleTemps(repo, cutoff, opts.dryRun === true);
    if (opts.dryRun !== true) {
      await removeExpiredWriterLeases(repo, expired);
    }
    return {
      marked: ctx.marked.size,
      ...sweep,
      removedSnapshots,
      unreadable: ctx.unreadable,
      unreadableIndexes: [...ctx.unreadableIndexes].sort(),
      cutoff,
    };
  } finally {
    await lease.close();
  }
}

/** Removes snapshot folders without manifest whose writer lease is gone or expired before `expired`. */
async function removeAborted(
  repo: Repository,
  expired: number,
  dryRun: boolean,
): Promise<string[]> {
  const folders = (await repo.listSnapshots()).filter((s) => !s.committed);
  // Leases are read after listing: a writer creates its lease before its folder.
  const claimed = new Set(
    (await readLeases(repo))
      .filter((l: LeaseRecord) => l.kind === 'writer' && l.expiresAt >= expired)
      .map((l) => l.snapshot),
  );
  const removed: string[] = [];
  for (const s of folders) {
    const key = `${s.domain}/${s.id}`;
    // A writer may have committed between the listing and the lease read (it releases its lease
    // only after its manifest is durable): a manifest now means the folder is a snapshot.
    const manifest = path.join(repo.snapshotDir(s.domain, s.id), 'manifest.json');
    const committedMeanwhile = await pathExists(manifest);
    if (!claimed.has(key) && !committedMeanwhile) {
      if (!dryRun) {
        await repo.removeSnapshotDir(s.domain, s.id);
      }
      removed.push(key);
    }
  }
  return removed;
}

/** Reads every index and base index not read yet (or changed) and marks what they reach. */
async function markPass(ctx: GcContext): Promise<void> {
  const roots: string[] = [];
  for (const s of await ctx.repo.listSnapshots()) {
    throwIfInterrupted(ctx.signal, 'GC');
    const dir = ctx.repo.snapshotDir(s.domain, s.id);
    for (const name of await listDir(dir)) {
      if (!name.endsWith('.index') && !name.endsWith('.index.base')) {
        continue;
      }
      const p = path.join(dir, name);
      const st = await fsp.stat(p).catch(() => null);
      if (st === null || ctx.readFiles.get(p) === st.mtimeMs) {
        continue;
      }
      const file = await readIfExists(p);
      if (file === null) {
        continue; // removed meanwhile (snapshot pruned or committed and base dropped)
      }
      ctx.readFiles.set(p, st.mtimeMs);
      try {
        // one by one: spread as arguments, ~125k digests (a 500 GiB disk) overflowed the stack
        for (const d of DiskIndex.decode(file, p).digests()) {
          roots.push(d);
        }
        ctx.unreadableIndexes.delete(path.relative(path.join(ctx.repo.root, 'snapshots'), p));
      } catch (e) {
        if (!(e instanceof RepoError) || e.code !== 'REPO_INDEX_CORRUPT') {
          throw e;
        }
        ctx.unreadableIndexes.add(path.relative(path.join(ctx.repo.root, 'snapshots'), p));
      }
    }
  }
  await markFrom(ctx, roots);
}

/** Marks digests and, through patches, their bases and ranges. */
async function markFrom(ctx: GcContext, roots: string[]): Promise<void> {
  const stack = roots.filter((d) => d !== ZERO_DIGEST_HEX && !ctx.marked.has(d));
  for (let d = stack.pop(); d !== undefined; d = stack.pop()) {
    if (ctx.marked.has(d)) {
      continue;
    }
    throwIfInterrupted(ctx.signal, 'GC');
    ctx.marked.add(d);
    try {
      if ((await verifiedKind(ctx.repo, d)) !== ChunkKind.patch) {
        continue;
      }
      const p = await readPatch(ctx.repo, d);
      for (const c of [p.base, ...p.ranges.map((r) => r.digest)]) {
        if (c !== ZERO_DIGEST_HEX && !ctx.marked.has(c)) {
          stack.push(c);
        }
      }
    } catch {
      if (await restoreLeftover(ctx.repo, d)) {
        // a GC that died mid-sweep had moved it aside: back under its name, followed again
        ctx.marked.delete(d);
        stack.push(d);
        continue;
      }
      // Missing or corrupt: verify reports it; GC cannot follow it. Only a chunk known to lead
      // nowhere (a data chunk verify moved aside) lets the sweep go on.
      if (!(await quarantinedData(ctx.repo, d))) {
        ctx.unreadable.push(d);
      }
    }
  }
}

/**
 * The chunk's kind, from its header; a file small enough to be a patch is read whole and verified
 * first. A flipped kind byte made a patch look like data (the header alone still decodes), and its
 * base and ranges, reachable through it only, were swept. The name spaces of data and patches
 * differ, so the verification catches the flip; the header alone is trusted only for files no
 * patch can be.
 */
async function verifiedKind(repo: Repository, digest: string): Promise<number> {
  const kind = await chunkKind(repo, digest);
  if (kind === ChunkKind.patch) {
    return kind;
  }
  const { size } = await fsp.stat(repo.chunkPath(digest));
  return size > PATCH_MAX_FILE_BYTES ? kind : (await repo.readChunk(digest)).kind;
}

/**
 * True when a chunk GC cannot read is known to be a data chunk, which names no other chunk: one
 * that verify moved aside (`<digest>.bad`) whose header still says so. Anything else may be a
 * patch whose base and ranges are live.
 */
async function quarantinedData(repo: Repository, digest: string): Promise<boolean> {
  try {
    const fh = await fsp.open(`${repo.chunkPath(digest)}.bad`, 'r');
    try {
      const head = Buffer.alloc(CHUNK_HEADER_BYTES);
      const { bytesRead } = await fh.read(head, 0, CHUNK_HEADER_BYTES, 0);
      const size = (await fh.stat()).size;
      // a damaged file small enough to be a patch may be one whose kind byte flipped
      return (
        size > PATCH_MAX_FILE_BYTES &&
        bytesRead === CHUNK_HEADER_BYTES &&
        decodeChunkHeader(head, digest, size).kind === ChunkKind.data
      );
    } finally {
      await fh.close();
    }
  } catch {
    return false;
  }
}
