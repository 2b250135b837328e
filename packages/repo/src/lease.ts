import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { isErrno, RepoError } from './errors.js';
import { listDir, readIfExists, writeTempFor } from './fs-util.js';
import type { Repository } from './repository.js';
import { checkSnapshotId } from './validate.js';

/** The JSON content of a lease file in `locks/`. */
export interface LeaseRecord {
  /** Always `virtvault-lease`. */
  format: 'virtvault-lease';
  /** Lease format version (1). */
  version: 1;
  /** `writer` (many at once) or `gc` (exclusive). */
  kind: 'writer' | 'gc';
  /** Lease id (also in the file name). */
  id: string;
  /** Holder host name. */
  host: string;
  /** Holder process id. */
  pid: number;
  /** `<domain>/<snapshot>` a writer is creating, or null. */
  snapshot: string | null;
  /** `<domain>/<snapshot>` a writer started its indexes from, or null. */
  parent: string | null;
  /** Holder's clock when the lease was first taken (ms). */
  startedAt: number;
  /** Holder's clock after which the lease is dead unless renewed (ms). */
  expiresAt: number;
}

/** What to take a lease for. */
export interface LeaseRequest {
  /** Lease kind. */
  kind: 'writer' | 'gc';
  /** Snapshot being written (writers). */
  snapshot?: string;
  /** Parent snapshot (writers). */
  parent?: string;
  /** Holder host name (default: os.hostname()). */
  host?: string;
}

/**
 * A lease file: created atomically with `link()` (no flock: works on NFS), holding its holder and
 * expiry, renewed by a heartbeat (rename over), removed by `close()`. `lost` becomes true when a
 * renewal finds the file gone or taken over.
 */
export class Lease {
  readonly #repo: Repository;
  readonly #file: string;
  #record: LeaseRecord;
  #timer: NodeJS.Timeout | null = null;
  #lost = false;
  #closed = false;
  /** The renewal under way, which `close()` waits for. */
  #renewing: Promise<void> | null = null;

  private constructor(repo: Repository, file: string, record: LeaseRecord) {
    this.#repo = repo;
    this.#file = file;
    this.#record = record;
  }

  /** The lease's current record. */
  get record(): LeaseRecord {
    return this.#record;
  }

  /** True when a renewal found the lease gone, taken over or expired. */
  get lost(): boolean {
    return this.#lost || this.#repo.options.now() > this.#record.expiresAt;
  }

  /**
   * Takes a lease. Writer leases never conflict; the `gc` lease is exclusive and an expired one is
   * taken over. Throws `REPO_LOCKED` when a live `gc` lease exists.
   */
  static async acquire(repo: Repository, req: LeaseRequest): Promise<Lease> {
    const now = repo.options.now();
    const id =
      req.kind === 'gc'
        ? `gc-${checkSnapshotId(repo.options.randomId())}`
        : checkSnapshotId(repo.options.randomId());
    const record: LeaseRecord = {
      format: 'virtvault-lease',
      version: 1,
      kind: req.kind,
      id,
      host: req.host ?? os.hostname(),
      pid: process.pid,
      snapshot: req.snapshot ?? null,
      parent: req.parent ?? null,
      startedAt: now,
      expiresAt: now + repo.options.leaseTtlMs,
    };
    const file = path.join(repo.locksDir, req.kind === 'gc' ? 'gc.lease' : `writer-${id}.lease`);
    if (!(await createExclusive(file, record))) {
      if (
        req.kind !== 'gc' ||
        !(await takeOverExpired(repo, file)) ||
        !(await createExclusive(file, record))
      ) {
        throw new RepoError(
          'REPO_LOCKED',
          `lease ${path.basename(file)} is held by another process`,
        );
      }
    }
    const lease = new Lease(repo, file, record);
    lease.#startHeartbeat();
    return lease;
  }

  /** Extends the expiry; marks the lease lost when its file vanished or changed holder. */
  async renew(): Promise<void> {
    if (this.#closed) {
      return;
    }
    // close() waits for it: a renewal still writing after the close would bring the file back
    const renewing = this.#renew();
    this.#renewing = renewing;
    try {
      await renewing;
    } finally {
      if (this.#renewing === renewing) {
        this.#renewing = null;
      }
    }
  }

  async #renew(): Promise<void> {
    // Expired is lost for good, even with the file still ours: a GC may have counted this writer
    // gone (its cutoff, its removal of the snapshot folder) while the process was stopped
    // (Ctrl-Z, a suspended host); a renewal now would let the commit go on over that.
    if (this.#repo.options.now() > this.#record.expiresAt) {
      this.#lost = true;
      throw new RepoError('REPO_LEASE_LOST', `lease ${this.#record.id} expired before renewal`);
    }
    const cur = await readLease(this.#file);
    if (cur?.id !== this.#record.id) {
      this.#lost = true;
      throw new RepoError('REPO_LEASE_LOST', `lease ${this.#record.id} was lost`);
    }
    const next = {
      ...this.#record,
      expiresAt: this.#repo.options.now() + this.#repo.options.leaseTtlMs,
    };
    const tmp = await writeTempFor(this.#file, JSON.stringify(next));
    await fsp.rename(tmp, this.#file).catch(async (e: unknown) => {
      await fsp.rm(tmp, { force: true });
      throw e;
    });
    this.#record = next;
  }

  /**
   * Throws `REPO_LEASE_LOST` unless the lease is live and its file still ours, read now, and
   * renews it: what a writer does right before it commits. The heartbeat's last word is up to a
   * third of the lifetime old, and a GC on another host may have removed the file since (its clock
   * saw it expired), together with the snapshot folder it claimed. Renewed, not only read: the
   * commit then has a whole lifetime ahead, so a GC whose clock runs ahead of this one cannot take
   * the writer for gone while its manifest is being placed.
   */
  async confirm(): Promise<void> {
    try {
      if (this.#closed) {
        throw new RepoError('REPO_LEASE_LOST', `lease ${this.#record.id} is closed`);
      }
      await this.renew();
    } catch (e) {
      this.#lost = true;
      const msg = `lease ${this.#record.id} was lost before commit`;
      throw new RepoError('REPO_LEASE_LOST', msg, { cause: e });
    }
  }

  /** Stops the heartbeat and removes the lease file if still ours. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) {
      return;
    }
    this.#closed = true;
    if (this.#timer !== null) {
      clearInterval(this.#timer);
      this.#timer = null;
    }
    await this.#renewing?.catch(() => undefined);
    const cur = await readLease(this.#file);
    if (cur?.id === this.#record.id) {
      await fsp.rm(this.#file, { force: true });
    }
  }

  #startHeartbeat(): void {
    const every = Math.max(50, Math.floor(this.#repo.options.leaseTtlMs / 3));
    // A failed write (a transient EIO on a network mount) is not a lost lease: the next beat
    // tries again, and `lost` turns true by itself once the expiry passes unrenewed. Gone, taken
    // over or expired, #renew has marked it lost already.
    this.#timer = setInterval(() => {
      this.renew().catch(() => undefined);
    }, every);
    // The heartbeat must never keep a process alive on its own.
    this.#timer.unref();
  }
}

/** Reads every lease in `locks/` (unreadable files are skipped). */
export async function readLeases(repo: Repository): Promise<LeaseRecord[]> {
  const out: LeaseRecord[] = [];
  for (const name of await listDir(repo.locksDir)) {
    if (name.endsWith('.lease')) {
      const r = await readLease(path.join(repo.locksDir, name));
      if (r !== null) {
        out.push(r);
      }
    }
  }
  return out;
}

/** Removes writer lease files that expired before `now` (GC housekeeping). */
export async function removeExpiredWriterLeases(repo: Repository, now: number): Promise<number> {
  let n = 0;
  for (const r of await readLeases(repo)) {
    if (r.kind === 'writer' && r.expiresAt < now) {
      await fsp.rm(path.join(repo.locksDir, `writer-${r.id}.lease`), { force: true });
      n++;
    }
  }
  return n;
}

async function readLease(file: string): Promise<LeaseRecord | null> {
  const b = await readIfExists(file);
  if (b === null) {
    return null;
  }
  try {
    const r = JSON.parse(b.toString('utf8')) as LeaseRecord;
    return r.format === 'virtvault-lease' ? r : null;
  } catch {
    return null;
  }
}

/** Creates `file` with `record` atomically: full temp file, then link() which fails if it exists. */
async function createExclusive(file: string, record: LeaseRecord): Promise<boolean> {
  const tmp = await writeTempFor(file, JSON.stringify(record));
  try {
    await fsp.link(tmp, file);
    return true;
  } catch (e) {
    if (isErrno(e, 'EEXIST')) {
      return false;
    }
    throw e;
  } finally {
    await fsp.rm(tmp, { force: true });
  }
}

/**
 * Moves an expired exclusive lease aside. The rename is atomic, so of several contenders only one
 * moves a given file; if what it moved turns out to be live (someone took over meanwhile), it is
 * linked back and the take-over fails.
 */
async function takeOverExpired(repo: Repository, file: string): Promise<boolean> {
  const cur = await readLease(file);
  if (cur !== null && cur.expiresAt >= repo.options.now()) {
    return false;
  }
  const aside = `${file}.stale-${repo.options.randomId()}`;
  try {
    await fsp.rename(file, aside);
  } catch (e) {
    return isErrno(e, 'ENOENT');
  }
  const moved = await readLease(aside);
  if (moved !== null && moved.expiresAt >= repo.options.now()) {
    await fsp.link(aside, file).catch(() => undefined);
    await fsp.rm(aside, { force: true });
    return false;
  }
  await fsp.rm(aside, { force: true });
  return true;
}
