import { promises as fsp } from 'node:fs';
import path from 'node:path';

import { isErrno, RepoError, throwIfInterrupted } from './errors.js';
import { ZERO_DIGEST_HEX } from './format/constants.js';
import { readIfExists } from './fs-util.js';
import { markQuarantined } from './quarantine.js';
import type { Repository } from './repository.js';
import { chunkFile } from './validate.js';
import { childrenOf, type ChunkState, faultPatches, slotFault } from './verify-rules.js';

/** A missing or corrupt chunk and every snapshot that depends on it. */
export interface ChunkProblem {
  /** Chunk name. */
  digest: string;
  /** `REPO_CHUNK_MISSING`, `REPO_CHUNK_CORRUPT` (moved aside) or `REPO_CHUNK_UNREADABLE` (left in place). */
  code: string;
  /** Human-readable detail. */
  message: string;
  /** `<domain>/<snapshot>` of every snapshot that uses it (directly or through a patch). */
  snapshots: string[];
  /**
   * A corrupt chunk's file was moved aside to `<digest>.bad` (when recording): the next backup that
   * has these bytes stores them afresh instead of deduplicating against the damage, which heals
   * every snapshot naming the chunk.
   */
  quarantined?: boolean;
}

/** The verify outcome of one snapshot (also written as `verify.json` in its folder). */
export interface SnapshotVerifyResult {
  /** Always `virtvault-verify`. */
  format: 'virtvault-verify';
  /** Version 1. */
  version: 1;
  /** `ok` or `failed`. */
  status: 'ok' | 'failed';
  /** ISO time of the check. */
  checkedAt: string;
  /** Problems found: bad chunks (with digest) or a bad manifest/index. */
  problems: { code: string; message: string; digest?: string }[];
}

/** The whole report. */
export interface VerifyReport {
  /** True when nothing failed. */
  ok: boolean;
  /** Distinct chunks read and checked. */
  chunksChecked: number;
  /** Per snapshot `<domain>/<snapshot>`. */
  snapshots: Record<string, SnapshotVerifyResult>;
  /** Bad chunks. */
  chunks: ChunkProblem[];
}

/** What to verify. */
export interface VerifyOptions {
  /** Only this domain. */
  domain?: string;
  /** Only this snapshot (needs `domain`). */
  snapshot?: string;
  /** Write `verify.json` into each checked snapshot folder (default true). */
  record?: boolean;
  /** Chunks checked at once (default: two per chunk worker, which keeps each busy). */
  concurrency?: number;
  /** Stops the verify between chunks with `REPO_INTERRUPTED`; no `verify.json` is written then. */
  signal?: AbortSignal;
}

/** A snapshot's slot entries: each distinct chunk its indexes name, with the slot length it fills. */
type Roots = Map<string, number>;

/**
 * Verifies committed snapshots: manifests, index digests, and every chunk they reach (through
 * patches too), re-reading and re-hashing each distinct chunk once; then that each chunk fits where
 * it is named, as a restore needs (see `verify-rules.ts`).
 */
export async function verifyRepository(
  repo: Repository,
  opts: VerifyOptions = {},
): Promise<VerifyReport> {
  const roots = new Map<string, Roots>();
  const results: Record<string, SnapshotVerifyResult> = {};
  const checkedAt = new Date(repo.options.now()).toISOString();
  for (const s of await repo.listSnapshots(opts.domain)) {
    if (!s.committed || (opts.snapshot !== undefined && s.id !== opts.snapshot)) {
      continue;
    }
    throwIfInterrupted(opts.signal, 'verify');
    const key = `${s.domain}/${s.id}`;
    results[key] = {
      format: 'virtvault-verify',
      version: 1,
      status: 'ok',
      checkedAt,
      problems: [],
    };
    roots.set(key, await snapshotRoots(repo, s.domain, s.id, results[key]));
  }
  if (opts.snapshot !== undefined && roots.size === 0) {
    throw new RepoError('REPO_SNAPSHOT_NOT_FOUND', `snapshot ${opts.snapshot} not found`);
  }
  const states = await checkAll(repo, roots, opts.concurrency ?? repo.pool().capacity, opts.signal);
  await dropRemoved(repo, roots, results);
  faultPatches(states);
  misfits(roots, states, results);
  const chunks = attribute(roots, states, results);
  if (opts.record !== false) {
    for (const c of chunks) {
      c.quarantined = c.code === 'REPO_CHUNK_CORRUPT' ? await quarantine(repo, c.digest) : false;
      if (c.code === 'REPO_CHUNK_MISSING') {
        // gone (or set aside before markers existed): no backup may build on what names it either
        await markQuarantined(repo.root, c.digest);
      }
    }
    for (const [key, r] of Object.entries(results)) {
      const [domain = '', id = ''] = key.split('/');
      await repo
        .writeAtomic(
          path.join(repo.snapshotDir(domain, id), 'verify.json'),
          JSON.stringify(r, null, 2) + '\n',
        )
        .catch((e: unknown) => {
          // removed since dropRemoved looked: nothing left to record it for
          if (!isErrno(e, 'ENOENT')) {
            throw e;
          }
        });
    }
  }
  const ok = Object.values(results).every((r) => r.status === 'ok');
  return { ok, chunksChecked: states.size, snapshots: results, chunks };
}

/**
 * Moves a corrupt chunk's file aside (`<digest>.bad`, kept as evidence; GC leaves it). Writers
 * deduplicate by name: left in place, the damage would be named by every later backup of the same
 * bytes, including the full that a failed verify makes the planner take.
 */
async function quarantine(repo: Repository, digest: string): Promise<boolean> {
  const file = chunkFile(repo.root, digest);
  try {
    await fsp.rename(file, `${file}.bad`);
  } catch (e) {
    if (isErrno(e, 'ENOENT')) {
      return false; // already moved aside, or removed meanwhile
    }
    throw e;
  }
  // the snapshots not checked now may name it too: no backup may build on them
  await markQuarantined(repo.root, digest);
  return true;
}

/**
 * The recorded verify results of one domain's committed snapshots, by snapshot id (a snapshot
 * never verified is absent): what the planner takes over the lineage's own verify state. A
 * `verify.json` that is damaged (not JSON, not a verify result, a status this build does not
 * know) counts as never verified, as `readManifests` lists a damaged manifest apart: it
 * failed the whole listing, and with it every backup of the domain at planning. An I/O error
 * still throws.
 */
export async function readVerifyResults(
  repo: Repository,
  domainUuid: string,
): Promise<Map<string, SnapshotVerifyResult['status']>> {
  const out = new Map<string, SnapshotVerifyResult['status']>();
  for (const ref of await repo.listSnapshots(domainUuid)) {
    const r = ref.committed
      ? await readVerifyResult(repo, ref.domain, ref.id).catch(damaged)
      : null;
    if (r !== null && (r.status === 'ok' || r.status === 'failed')) {
      out.set(ref.id, r.status);
    }
  }
  return out;
}

/** null for a verify.json whose content is damaged; any other error is thrown again. */
function damaged(e: unknown): null {
  if (e instanceof RepoError && e.code === 'REPO_MANIFEST_INVALID') {
    return null;
  }
  throw e;
}

/** Reads the recorded verify result of a snapshot, or null when it was never verified. */
export async function readVerifyResult(
  repo: Repository,
  domain: string,
  id: string,
): Promise<SnapshotVerifyResult | null> {
  const b = await readIfExists(path.join(repo.snapshotDir(domain, id), 'verify.json'));
  if (b === null) {
    return null;
  }
  let r: SnapshotVerifyResult | null;
  try {
    r = JSON.parse(b.toString('utf8')) as SnapshotVerifyResult | null;
  } catch (e) {
    throw new RepoError('REPO_MANIFEST_INVALID', `verify.json of ${domain}/${id} is not JSON`, {
      cause: e,
    });
  }
  if (r?.format !== 'virtvault-verify') {
    throw new RepoError('REPO_MANIFEST_INVALID', `verify.json of ${domain}/${id} is invalid`);
  }
  return r;
}

/** A snapshot's slot entries, read from its manifest and indexes; a fault fails `r`. */
async function snapshotRoots(
  repo: Repository,
  domain: string,
  id: string,
  r: SnapshotVerifyResult,
): Promise<Roots> {
  const out: Roots = new Map();
  const fail = (code: string, message: string): void => {
    r.status = 'failed';
    r.problems.push({ code, message });
  };
  try {
    const m = await repo.readManifest(domain, id);
    for (const d of m.disks) {
      const index = await repo.readIndex(domain, id, d.target, m);
      for (let i = 0; i < index.slotCount; i++) {
        const dg = index.get(i);
        const len = index.slotLength(i);
        const had = out.get(dg);
        if (dg === ZERO_DIGEST_HEX || had === len) {
          continue;
        }
        if (had !== undefined) {
          // a chunk has one length: one of the slots naming it cannot be filled by it
          fail('REPO_INDEX_CORRUPT', `chunk ${dg} fills slots of ${had} and ${len} bytes`);
        }
        out.set(dg, len);
      }
    }
  } catch (e) {
    const code = e instanceof RepoError ? e.code : 'REPO_INDEX_CORRUPT';
    fail(code, e instanceof Error ? e.message : String(e));
  }
  return out;
}

/**
 * Fails each snapshot whose indexes name a sound chunk for a slot it cannot fill (its length is
 * another): the index is at fault, the chunk may be right where others name it.
 */
function misfits(
  roots: ReadonlyMap<string, Roots>,
  states: ReadonlyMap<string, ChunkState>,
  results: Record<string, SnapshotVerifyResult>,
): void {
  for (const [key, slots] of roots) {
    const r = results[key];
    for (const [digest, len] of slots) {
      const st = states.get(digest);
      const why = st === undefined || r === undefined ? null : slotFault(digest, len, st);
      if (why !== null && r !== undefined) {
        r.status = 'failed';
        r.problems.push({ code: 'REPO_INDEX_CORRUPT', message: why, digest });
      }
    }
  }
}

/**
 * Forgets the snapshots removed (prune, forget) while verify read them: the chunks only they
 * named may be gone with them (a GC), which is no damage of theirs nor of anything that stays,
 * and must neither be reported nor quarantined.
 */
async function dropRemoved(
  repo: Repository,
  roots: Map<string, Roots>,
  results: Record<string, SnapshotVerifyResult>,
): Promise<void> {
  for (const key of [...roots.keys()]) {
    const [domain = '', id = ''] = key.split('/');
    const manifest = path.join(repo.snapshotDir(domain, id), 'manifest.json');
    if ((await readIfExists(manifest)) === null) {
      roots.delete(key);
      delete results[key];
    }
  }
}

/** Checks every chunk reachable from the roots, each once, a few at a time. */
async function checkAll(
  repo: Repository,
  roots: ReadonlyMap<string, Roots>,
  concurrency: number,
  signal: AbortSignal | undefined,
): Promise<Map<string, ChunkState>> {
  const states = new Map<string, ChunkState>();
  const queue: string[] = [];
  const seen = new Set<string>();
  const enqueue = (d: string): void => {
    if (d !== ZERO_DIGEST_HEX && !seen.has(d)) {
      seen.add(d);
      queue.push(d);
    }
  };
  for (const slots of roots.values()) {
    for (const d of slots.keys()) {
      enqueue(d);
    }
  }
  const work = async (): Promise<void> => {
    for (let d = queue.shift(); d !== undefined; d = queue.shift()) {
      throwIfInterrupted(signal, 'verify');
      const st = await checkChunk(repo, d);
      states.set(d, st);
      if (st.ok) {
        childrenOf(st.facts).forEach(enqueue);
      }
    }
  };
  // Workers drain a shared queue; children are appended as patches are decoded.
  let running: Promise<void>[] = [];
  do {
    running = Array.from({ length: concurrency }, () => work());
    await Promise.all(running);
  } while (queue.length > 0);
  return states;
}

/** Checks one chunk in the repository's chunk workers (reads there cost no libuv round trips). */
async function checkChunk(repo: Repository, digest: string): Promise<ChunkState> {
  const r = await repo.pool().check(digest);
  return r.ok ? { ok: true, facts: r.facts } : { ok: false, code: r.code, message: r.message };
}

/** Walks each snapshot's chunk graph and names, per bad chunk, every snapshot that reaches it. */
function attribute(
  roots: ReadonlyMap<string, Roots>,
  states: ReadonlyMap<string, ChunkState>,
  results: Record<string, SnapshotVerifyResult>,
): ChunkProblem[] {
  const problems = new Map<string, ChunkProblem>();
  for (const [key, slots] of roots) {
    const stack = [...slots.keys()];
    const seen = new Set<string>(stack);
    for (let d = stack.pop(); d !== undefined; d = stack.pop()) {
      const st = states.get(d);
      if (st === undefined) {
        continue;
      }
      if (!st.ok) {
        const p = problems.get(d) ?? {
          digest: d,
          code: st.code,
          message: st.message,
          snapshots: [],
        };
        p.snapshots.push(key);
        problems.set(d, p);
        const r = results[key];
        if (r !== undefined) {
          r.status = 'failed';
          r.problems.push({ code: st.code, message: st.message, digest: d });
        }
        continue;
      }
      for (const c of childrenOf(st.facts)) {
        if (!seen.has(c)) {
          seen.add(c);
          stack.push(c);
        }
      }
    }
  }
  return [...problems.values()].sort((a, b) => a.digest.localeCompare(b.digest));
}
