import { randomBytes, randomUUID } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';

import type { SnapshotManifest } from '@virtvault/core';

import { isErrno, RepoError } from './errors.js';
import { makeDirsSync } from './make-dirs.js';
import { defaultChunkHash, usableBlake3 } from './format/blake3.js';
import { decodeChunk, type DecodedChunk } from './format/chunk-codec.js';
import { parseConfig, isValidChunkSize, type RepoConfig } from './format/config.js';
import {
  type ChunkHash,
  DEFAULT_CHUNK_SIZE,
  REPO_FORMAT,
  REPO_VERSION,
} from './format/constants.js';
import { DiskIndex } from './format/index-file.js';
import { parseManifest } from './manifest-io.js';
import {
  createFileAtomic,
  fsyncDir,
  listDir,
  pathExists,
  readIfExists,
  writeFileAtomic,
} from './fs-util.js';
import { sha256hex } from './hash.js';
import {
  chunkFile,
  checkDiskTarget,
  checkDomainUuid,
  checkSnapshotId,
  confined,
} from './validate.js';
import { ChunkPool } from './worker/pool.js';

/** The layout folders `Repository.init` makes before it publishes `config.json`. */
const LAYOUT = ['chunks', 'snapshots', 'locks'];

/**
 * True when a folder holding `entries` (and no `config.json`) may be a repository that another
 * process is creating right now: only the layout folders and config.json's own temp, not foreign
 * data.
 */
export function mayBeBeingCreated(entries: readonly string[]): boolean {
  return entries.every((e) => LAYOUT.includes(e) || e.startsWith('.tmp-config.json-'));
}

/** Options shared by every repository operation. */
export interface RepositoryOptions {
  /** Clock in ms since the epoch (injectable for tests). */
  now?: () => number;
  /** Random id source for leases and snapshot ids (injectable for tests). */
  randomId?: () => string;
  /** zstd level for new chunks (default 1; 0 stores everything raw). */
  compressionLevel?: number;
  /** Hash/compress worker threads (default: number of cores). */
  workers?: number;
  /** Lease lifetime in ms (default 5 minutes); leases are renewed every third of it. */
  leaseTtlMs?: number;
}

/** Options of {@link Repository.init}. */
export interface InitOptions extends RepositoryOptions {
  /** Slot size (default 4 MiB). */
  chunkSize?: number;
  /**
   * Digest algorithm of chunk names (default BLAKE3 where its addon loads, else SHA-256; SHA-256
   * is also what builds before 2026-11-27 made).
   */
  hash?: ChunkHash;
}

/** A snapshot folder found in the repository. */
export interface SnapshotRef {
  /** Domain UUID. */
  domain: string;
  /** Snapshot id. */
  id: string;
  /** True when `manifest.json` exists (committed). */
  committed: boolean;
}

/** The resolved, defaulted options. */
export interface ResolvedOptions {
  now: () => number;
  randomId: () => string;
  compressionLevel: number;
  workers: number | undefined;
  leaseTtlMs: number;
}

/**
 * A repository on a local or shared filesystem. `open()` reads and checks `config.json`;
 * `close()` stops the worker pool (idempotent).
 */
export class Repository {
  /** Absolute root folder. */
  readonly root: string;
  /** Resolved options (clock, ids, compression). */
  readonly options: ResolvedOptions;
  #config: RepoConfig | null = null;
  #pool: ChunkPool | null = null;

  /** @param root repository folder @param opts options */
  constructor(root: string, opts: RepositoryOptions = {}) {
    this.root = path.resolve(root);
    this.options = {
      now: opts.now ?? Date.now,
      randomId: opts.randomId ?? (() => randomBytes(8).toString('hex')),
      // level 1: twice level 3's speed for the same ratio on VM data (packages.md, zstd-napi)
      compressionLevel: opts.compressionLevel ?? 1,
      workers: opts.workers,
      leaseTtlMs: opts.leaseTtlMs ?? 5 * 60_000,
    };
  }

  /** Creates a new empty repository at `root` and returns it opened. Throws `REPO_EXISTS`. */
  static async init(root: string, opts: InitOptions = {}): Promise<Repository> {
    const chunkSize = opts.chunkSize ?? DEFAULT_CHUNK_SIZE;
    if (!isValidChunkSize(chunkSize)) {
      throw new RepoError('REPO_BAD_ARGUMENT', `invalid chunkSize ${chunkSize}`);
    }
    const hash = opts.hash ?? defaultChunkHash();
    if (hash === 'blake3') {
      usableBlake3();
    }
    const repo = new Repository(root, opts);
    makeDirsSync(repo.root);
    const config: RepoConfig = {
      format: REPO_FORMAT,
      version: REPO_VERSION,
      chunkSize,
      hash,
      compression: 'zstd',
      id: randomUUID(),
      createdAt: new Date(repo.options.now()).toISOString(),
    };
    for (const d of LAYOUT) {
      await fsp.mkdir(path.join(repo.root, d), { recursive: true });
    }
    // all at once: one at a time, each waited for a turn of an event loop that a backup shares
    // with the embedded lineage's start
    const fanout = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
    await Promise.all(
      fanout.map((d) => fsp.mkdir(path.join(repo.root, 'chunks', d), { recursive: true })),
    );
    // Written last, whole and exclusively: a repository exists once config.json does.
    const text = JSON.stringify(config, null, 2) + '\n';
    if (!(await createFileAtomic(path.join(repo.root, 'config.json'), text))) {
      throw new RepoError('REPO_EXISTS', `a repository already exists at ${repo.root}`);
    }
    await repo.open();
    return repo;
  }

  /** Reads `config.json`. Throws `REPO_NOT_FOUND` or `REPO_FORMAT_UNSUPPORTED`. */
  async open(): Promise<void> {
    if (this.#config !== null) {
      return;
    }
    const text = await readIfExists(path.join(this.root, 'config.json')).catch((e: unknown) => {
      // not a folder, no permission: say so by the repository's name, not by errno alone
      const why = e instanceof Error ? e.message : String(e);
      throw new RepoError('REPO_UNREADABLE', `cannot read a repository at ${this.root}: ${why}`, {
        cause: e,
      });
    });
    if (text === null) {
      throw new RepoError('REPO_NOT_FOUND', `no repository at ${this.root} (config.json missing)`);
    }
    const config = parseConfig(text.toString('utf8'));
    if (config.hash === 'blake3') {
      // refused here, with its reason, rather than at the first chunk
      usableBlake3();
    }
    this.#config = config;
  }

  /** Stops the worker pool. Idempotent. */
  async close(): Promise<void> {
    const pool = this.#pool;
    this.#pool = null;
    this.#config = null;
    await pool?.close();
  }

  /** The parsed `config.json`. Throws `REPO_CLOSED` before `open()`. */
  get config(): RepoConfig {
    if (this.#config === null) {
      throw new RepoError('REPO_CLOSED', 'repository is not open');
    }
    return this.#config;
  }

  /** The shared hash/compress worker pool (started on first use). */
  pool(): ChunkPool {
    if (this.#pool === null) {
      this.#pool = new ChunkPool({
        root: this.root,
        level: this.options.compressionLevel,
        maxPayload: this.config.chunkSize,
        hash: this.config.hash,
        ...(this.options.workers !== undefined ? { workers: this.options.workers } : {}),
      });
      this.#pool.open();
    }
    return this.#pool;
  }

  /** Path of a chunk file. */
  chunkPath(digest: string): string {
    return chunkFile(this.root, digest);
  }

  /** Path of a snapshot folder. */
  snapshotDir(domain: string, id: string): string {
    return confined(this.root, 'snapshots', checkDomainUuid(domain), checkSnapshotId(id));
  }

  /** Path of a disk index file inside a snapshot folder. */
  indexPath(domain: string, id: string, target: string): string {
    return confined(this.snapshotDir(domain, id), `${checkDiskTarget(target)}.index`);
  }

  /** Path of the locks folder. */
  get locksDir(): string {
    return confined(this.root, 'locks');
  }

  /** Reads, verifies and decodes a chunk. Throws `REPO_CHUNK_MISSING` / `REPO_CHUNK_CORRUPT`. */
  async readChunk(digest: string): Promise<DecodedChunk> {
    const file = await readIfExists(this.chunkPath(digest));
    if (file === null) {
      throw new RepoError('REPO_CHUNK_MISSING', `chunk ${digest} is missing`);
    }
    return decodeChunk(file, digest, this.config.hash);
  }

  /** Lists snapshot folders (committed or not), optionally of one domain. Ignores stray names. */
  async listSnapshots(domain?: string): Promise<SnapshotRef[]> {
    const domains =
      domain !== undefined
        ? [checkDomainUuid(domain)]
        : await listDir(confined(this.root, 'snapshots'));
    const out: SnapshotRef[] = [];
    for (const d of domains.sort()) {
      if (!isValid(() => checkDomainUuid(d))) {
        continue;
      }
      const ids = (await listDir(confined(this.root, 'snapshots', d)))
        .sort()
        .filter((id) => isValid(() => checkSnapshotId(id)));
      // all at once: one after another, each stat waited for a turn of an event loop that a
      // backup's copy keeps busy (a planner listing 25 snapshots took 0.3-0.6 s during the copy)
      const committed = await Promise.all(
        ids.map((id) => pathExists(path.join(this.snapshotDir(d, id), 'manifest.json'))),
      );
      ids.forEach((id, i) => out.push({ domain: d, id, committed: committed[i] === true }));
    }
    return out;
  }

  /** Reads a committed snapshot's manifest. Throws `REPO_SNAPSHOT_NOT_FOUND` / `REPO_MANIFEST_INVALID`. */
  async readManifest(domain: string, id: string): Promise<SnapshotManifest> {
    const text = await readIfExists(path.join(this.snapshotDir(domain, id), 'manifest.json'));
    if (text === null) {
      throw new RepoError(
        'REPO_SNAPSHOT_NOT_FOUND',
        `snapshot ${domain}/${id} not found (no manifest)`,
      );
    }
    const m = parseManifest(text.toString('utf8'), `${domain}/${id}`);
    // a folder copied or renamed by hand would otherwise act under another snapshot's name (prune
    // and forget remove by the manifest's id)
    if (m.id !== id || m.domain.uuid !== domain) {
      throw new RepoError(
        'REPO_MANIFEST_INVALID',
        `manifest of ${domain}/${id} names snapshot ${m.domain.uuid}/${m.id}: ` +
          'the folder was copied or renamed',
      );
    }
    return m;
  }

  /**
   * Reads a disk index of a committed snapshot and checks it against the manifest's SHA-256.
   * Throws `REPO_INDEX_CORRUPT` when it differs.
   */
  async readIndex(
    domain: string,
    id: string,
    target: string,
    manifest?: SnapshotManifest,
  ): Promise<DiskIndex> {
    const m = manifest ?? (await this.readManifest(domain, id));
    const disk = m.disks.find((d) => d.target === target);
    if (disk === undefined) {
      throw new RepoError('REPO_BAD_ARGUMENT', `snapshot ${domain}/${id} has no disk ${target}`);
    }
    const name = `${domain}/${id}/${target}.index`;
    const file = await readIfExists(this.indexPath(domain, id, target));
    if (file === null) {
      throw new RepoError('REPO_INDEX_CORRUPT', `index ${name} is missing`);
    }
    if (sha256hex(file) !== disk.indexSha256) {
      throw new RepoError('REPO_INDEX_CORRUPT', `index ${name} does not match its manifest digest`);
    }
    const index = DiskIndex.decode(file, name);
    if (index.virtualSize !== disk.virtualSize) {
      // a restore sizes its output by the manifest and fills it by the index: a smaller index
      // left a zero tail, a larger one a raw file grown past the disk, neither said
      const says = `${index.virtualSize} bytes, its manifest ${disk.virtualSize}`;
      throw new RepoError('REPO_INDEX_CORRUPT', `index ${name} is of ${says}`);
    }
    return index;
  }

  /** Writes a file atomically inside the repository (temp, fsync, rename). */
  async writeAtomic(p: string, data: Uint8Array | string): Promise<void> {
    await writeFileAtomic(confined(this.root, path.relative(this.root, p)), data);
  }

  /** Removes a snapshot folder: manifest first (the snapshot becomes an aborted one), then the rest. */
  async removeSnapshotDir(domain: string, id: string): Promise<void> {
    const dir = this.snapshotDir(domain, id);
    try {
      await fsp.unlink(path.join(dir, 'manifest.json'));
    } catch (e) {
      if (!isErrno(e, 'ENOENT')) {
        throw e;
      }
    }
    // the manifest's removal durable first: a crash midway must leave an aborted snapshot, never
    // a manifest whose indexes are gone
    await fsyncDir(dir).catch(() => undefined);
    await fsp.rm(dir, { recursive: true, force: true });
  }
}

function isValid(check: () => unknown): boolean {
  try {
    check();
    return true;
  } catch {
    return false;
  }
}
