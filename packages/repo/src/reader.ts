import type { SnapshotManifest } from '@virtvault/core';

import { isErrno, RepoError } from './errors.js';
import { ZERO_DIGEST_HEX } from './format/constants.js';
import type { DiskIndex } from './format/index-file.js';
import { Lease } from './lease.js';
import type { Repository } from './repository.js';
import { resolveSlot } from './resolve.js';
import type { ResolvedSlot } from './worker/pool.js';

/** One extent of a disk: bytes, or a hole (zero/unallocated). */
export type DiskExtent =
  | { offset: number; length: number; zero: true }
  | { offset: number; length: number; zero: false; data: Buffer };

/** Options of {@link SnapshotReader.readDisk}. */
export interface ReadDiskOptions {
  /** Slots resolved ahead of the consumer (default 4). */
  readAhead?: number;
}

/** A non-zero slot of a disk, resolved and verified (see {@link SnapshotReader.readSlots}). */
export interface DiskSlot extends ResolvedSlot {
  /** The slot's offset in the disk. */
  offset: number;
}

/** Options of {@link SnapshotReader.readSlots}. */
export interface ReadSlotsOptions {
  /**
   * A file the workers write each slot's data runs into, at the slot's offset in the disk (a raw
   * restore: the main thread then only waits). The file must exist; the caller fsyncs it.
   */
  writeTo?: string;
}

/**
 * Reads a committed snapshot. `open()` takes a lease naming the snapshot as its parent, as a backup
 * building on it does, so that prune and forget leave it (and with its indexes, GC its chunks)
 * until `close()`: a restore of hours must not fail halfway because retention removed what it
 * reads. Then it loads the manifest (aborted snapshots are invisible: `REPO_SNAPSHOT_NOT_FOUND`);
 * `readDisk()` streams a disk as extents, verifying every chunk.
 */
export class SnapshotReader {
  readonly #repo: Repository;
  readonly #domain: string;
  readonly #id: string;
  #manifest: SnapshotManifest | null = null;
  #lease: Lease | null = null;

  /** @param repo an opened repository @param domain domain uuid @param id snapshot id */
  constructor(repo: Repository, domain: string, id: string) {
    this.#repo = repo;
    this.#domain = domain;
    this.#id = id;
  }

  /** Takes the lease, then loads the manifest. */
  async open(): Promise<void> {
    if (this.#manifest !== null) {
      return;
    }
    this.#lease ??= await this.#takeLease();
    try {
      this.#manifest = await this.#repo.readManifest(this.#domain, this.#id);
    } catch (e) {
      await this.close();
      throw e;
    }
  }

  /** Releases the lease. Idempotent. */
  async close(): Promise<void> {
    this.#manifest = null;
    const lease = this.#lease;
    this.#lease = null;
    await lease?.close();
  }

  /** The lease; none where the repository cannot be written (mounted read-only: no prune there). */
  async #takeLease(): Promise<Lease | null> {
    const parent = `${this.#domain}/${this.#id}`;
    return Lease.acquire(this.#repo, { kind: 'writer', parent }).catch((e: unknown) => {
      if (['EROFS', 'EACCES', 'EPERM'].some((code) => isErrno(e, code))) {
        return null;
      }
      throw e;
    });
  }

  /** The snapshot's manifest. */
  get manifest(): SnapshotManifest {
    if (this.#manifest === null) {
      throw new RepoError('REPO_CLOSED', 'reader is not open');
    }
    return this.#manifest;
  }

  /** Reads a disk's index (checked against the manifest). */
  async index(target: string): Promise<DiskIndex> {
    return this.#repo.readIndex(this.#domain, this.#id, target, this.manifest);
  }

  /**
   * Streams a disk's non-zero slots in order, each resolved and verified in the repository's chunk
   * workers; zero slots are skipped (a fresh output reads as zeros). Each slot holds one of a few
   * shared regions until its `release()`, so release each once written. Throws
   * `REPO_CHUNK_MISSING` / `REPO_CHUNK_CORRUPT` naming the chunk.
   */
  async *readSlots(target: string, opts: ReadSlotsOptions = {}): AsyncGenerator<DiskSlot> {
    const index = await this.index(target);
    const pool = this.#repo.pool();
    // enough resolving to keep every worker busy while the consumer writes a slot or two
    const ahead = pool.capacity + 2;
    const pending: Promise<DiskSlot>[] = [];
    let next = 0;
    try {
      for (;;) {
        for (; next < index.slotCount && pending.length < ahead; next++) {
          const digest = index.get(next);
          if (digest === ZERO_DIGEST_HEX) {
            continue;
          }
          const offset = next * index.chunkSize;
          const write = opts.writeTo === undefined ? null : { file: opts.writeTo, offset };
          const p = pool
            .resolve(digest, index.slotLength(next), write)
            .then((s) => ({ ...s, offset }));
          p.catch(() => undefined); // observed below, in order
          pending.push(p);
        }
        const p = pending.shift();
        if (p === undefined) {
          return;
        }
        yield await p;
      }
    } finally {
      // Slots still resolving when the consumer stopped or a chunk failed hold regions, and a raw
      // restore's workers may still be writing them: each is given back as soon as it settles, not
      // once all have: two restores cleaning up at once on one pool would otherwise each hold
      // regions while waiting for a slot that needs one of the other's.
      await Promise.allSettled(pending.map((p) => p.then((s) => s.release())));
    }
  }

  /**
   * Streams a disk as extents in order; runs of zero slots come as one hole. Throws
   * `REPO_CHUNK_MISSING` / `REPO_CHUNK_CORRUPT` naming the chunk when one fails verification.
   */
  async *readDisk(target: string, opts: ReadDiskOptions = {}): AsyncGenerator<DiskExtent> {
    const index = await this.index(target);
    const ahead = Math.max(1, opts.readAhead ?? 4);
    const pending: Promise<Buffer>[] = [];
    let next = 0;
    let hole: { offset: number; length: number } | null = null;
    for (let slot = 0; slot < index.slotCount; slot++) {
      // Keep `ahead` non-zero slots resolving while the consumer works.
      for (; next < index.slotCount && pending.length < ahead; next++) {
        const dg = index.get(next);
        if (dg !== ZERO_DIGEST_HEX) {
          const p = resolveSlot(this.#repo, dg, index.slotLength(next));
          p.catch(() => undefined); // observed below, in order
          pending.push(p);
        }
      }
      const offset = slot * index.chunkSize;
      const length = index.slotLength(slot);
      if (index.get(slot) === ZERO_DIGEST_HEX) {
        hole =
          hole === null
            ? { offset, length }
            : { offset: hole.offset, length: hole.length + length };
        continue;
      }
      if (hole !== null) {
        yield { ...hole, zero: true };
        hole = null;
      }
      const data = await pending.shift();
      if (data === undefined) {
        throw new RepoError('REPO_STATE', 'read-ahead out of step');
      }
      yield { offset, length, zero: false, data };
    }
    if (hole !== null) {
      yield { ...hole, zero: true };
    }
  }
}
