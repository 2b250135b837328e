/**
 * GC's sweep (see `gc.ts` for the mark and the protocol in `docs/repository-format.md`): unmarked
 * chunks older than the cutoff, quarantined chunks no longer evidence of anything, the quarantine
 * markers of chunks no snapshot reaches, stale temps;
 * and the marked chunks a GC that died mid-sweep left moved aside, put back.
 */
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';

import { isErrno, throwIfInterrupted } from './errors.js';
import { listDir } from './fs-util.js';
import { dropUnreachedMarkers } from './quarantine.js';
import type { Repository } from './repository.js';

/** What a sweep removed. */
export interface SweepCounts {
  /** Chunks removed. */
  swept: number;
  /** Bytes of chunk files removed. */
  sweptBytes: number;
  /** Temp files removed. */
  removedTemps: number;
  /** Quarantined chunks removed. */
  removedBad: number;
}

/**
 * Sweeps every `chunks/<hh>/` folder: what `marked` does not name and is older than `cutoff`; then
 * the quarantine markers of digests `marked` does not name (see `quarantine.ts`).
 */
export async function sweepChunks(
  {
    repo,
    marked,
    signal,
  }: { repo: Repository; marked: ReadonlySet<string>; signal?: AbortSignal | undefined },
  cutoff: number,
  dryRun: boolean,
): Promise<SweepCounts> {
  let swept = 0;
  let sweptBytes = 0;
  let removedTemps = 0;
  let removedBad = 0;
  const root = path.join(repo.root, 'chunks');
  for (const hh of await listDir(root)) {
    for (const name of await listDir(path.join(root, hh))) {
      // between chunks: a chunk moved aside is always put back or removed first
      throwIfInterrupted(signal, 'GC');
      const p = path.join(root, hh, name);
      if (name.startsWith('.')) {
        removedTemps += (await removeStaleTemp(p, cutoff, dryRun)) ? 1 : 0;
        continue;
      }
      const bad = /^([0-9a-f]{64})\.bad$/.exec(name)?.[1];
      if (bad !== undefined) {
        removedBad += (await removeBad(p, !marked.has(bad), dryRun)) ? 1 : 0;
        continue;
      }
      if (marked.has(name) || !/^[0-9a-f]{64}$/.test(name)) {
        continue;
      }
      const size = await sweepOne(p, cutoff, dryRun);
      if (size !== null) {
        swept++;
        sweptBytes += size;
      }
    }
  }
  if (!dryRun) {
    await dropUnreachedMarkers(repo.root, marked, cutoff);
  }
  return { swept, sweptBytes, removedTemps, removedBad };
}

/**
 * Removes a quarantined chunk once it is no evidence of anything: its digest is stored whole again
 * (`<digest>` beside it) or `unused` (no snapshot names it). Else it stays, beside the damage
 * verify reported. Never data: a `.bad` file failed its digest check.
 */
async function removeBad(p: string, unused: boolean, dryRun: boolean): Promise<boolean> {
  const healed = await fsp.stat(p.slice(0, -'.bad'.length)).then(
    () => true,
    () => false,
  );
  if (!healed && !unused) {
    return false;
  }
  if (!dryRun) {
    await fsp.rm(p, { force: true });
  }
  return true;
}

/** Removes an unmarked chunk unless it was written or touched after the cutoff. Returns its size. */
async function sweepOne(p: string, cutoff: number, dryRun: boolean): Promise<number | null> {
  const st = await fsp.stat(p).catch(() => null);
  if (st === null || st.mtimeMs >= cutoff) {
    return null;
  }
  if (dryRun) {
    return st.size;
  }
  const aside = path.join(
    path.dirname(p),
    `.gc-${path.basename(p)}-${randomBytes(6).toString('hex')}`,
  );
  try {
    await fsp.rename(p, aside);
  } catch (e) {
    if (isErrno(e, 'ENOENT')) {
      return null;
    }
    throw e;
  }
  // A writer may have touched it between our stat and the rename: then it is in use again.
  const again = await fsp.stat(aside);
  if (again.mtimeMs >= cutoff) {
    await fsp.rename(aside, p);
    return null;
  }
  await fsp.rm(aside, { force: true });
  return again.size;
}

/**
 * Puts a marked chunk that is missing back under its name when a GC that died mid-sweep left it
 * moved aside (`.gc-<digest>-…`): a writer may have reused it between that GC's stat and its
 * rename, and an index written since names it. GCs are exclusive (the lease), so no leftover is
 * another's. Looked for only where a marked chunk is missing (one folder's listing); leftovers of
 * unmarked chunks are removed with the other stale temps. True when one was put back.
 */
export async function restoreLeftover(repo: Repository, digest: string): Promise<boolean> {
  const dir = path.dirname(repo.chunkPath(digest));
  const name = (await listDir(dir)).find((n) => n.startsWith(`.gc-${digest}-`));
  if (name === undefined) {
    return false;
  }
  // a chunk stored again under its name meanwhile is the same bytes
  await fsp.link(path.join(dir, name), repo.chunkPath(digest)).catch((e: unknown) => {
    if (!isErrno(e, 'EEXIST')) {
      throw e;
    }
  });
  await fsp.rm(path.join(dir, name), { force: true });
  return true;
}

async function removeStaleTemp(p: string, cutoff: number, dryRun: boolean): Promise<boolean> {
  const st = await fsp.stat(p).catch(() => null);
  if (st === null || dryRun) {
    return false;
  }
  if (st.mtimeMs >= cutoff) {
    return false;
  }
  await fsp.rm(p, { force: true });
  return true;
}

/** Removes stale temp files in snapshot folders and `locks/` (crashed atomic writes). */
export async function removeStaleTemps(
  repo: Repository,
  cutoff: number,
  dryRun: boolean,
): Promise<number> {
  const dirs = [repo.locksDir];
  for (const s of await repo.listSnapshots()) {
    dirs.push(repo.snapshotDir(s.domain, s.id));
  }
  let n = 0;
  for (const dir of dirs) {
    for (const name of await listDir(dir)) {
      if (name.startsWith('.tmp-') || name.includes('.lease.stale-')) {
        n += (await removeStaleTemp(path.join(dir, name), cutoff, dryRun)) ? 1 : 0;
      }
    }
  }
  return n;
}
