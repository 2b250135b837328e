/**
 * Reads and verifies chunks in a chunk worker, synchronously: resolves a restore's slots (reads
 * the slot's chunks, verifies every one, lays a patch over its base, finds the data runs, and for a
 * raw restore writes them into the output itself), and checks chunks for verify. On the main thread, a restore of 2.2 GiB spent ~6 s of its 7.4 s
 * there: hashing, zero scans, copies and a libuv round trip per file read (CPU profile of the
 * lab's bench VM); the thread left to drive the output was the bottleneck.
 */
import fs from 'node:fs';

import { zeroFill } from '@virtvault/core/zero-fill';

import { RepoError, isErrno } from '../errors.js';
import { dataRuns, type DataRun } from '../data-runs.js';
import { ChunkDecoder, chunkDigest, decodeChunk } from '../format/chunk-codec.js';
import { decodeChunkHeader } from '../format/chunk-header.js';
import {
  CHUNK_HEADER_BYTES,
  type ChunkHash,
  ChunkKind,
  Codec,
  MAX_CHUNK_SIZE,
  ZERO_DIGEST_HEX,
} from '../format/constants.js';
import { decodePatch, type Patch, type PatchRange } from '../format/patch.js';
import { checkLength, layRanges } from '../resolve.js';
import { chunkFile } from '../validate.js';
import { DIRECT_ALIGN, regionView, type ArenaShape } from './arena.js';

/** A job for a chunk worker: resolve one slot into an arena region (from its start). */
export interface ResolveJob {
  /** Correlation id. */
  id: number;
  /** Job type. */
  type: 'resolve';
  /** Arena region that receives the slot's bytes, from the region's (aligned) start. */
  region: number;
  /** The slot's index entry: a data chunk or a patch (never the zero digest). */
  digest: string;
  /** The slot's length. */
  slotLength: number;
  /** When set, the worker writes the slot's data runs into `file` at `offset` (raw restore). */
  write: { file: string; offset: number } | null;
}

/** A job for a chunk worker: read and verify one chunk (verify). */
export interface CheckJob {
  /** Correlation id. */
  id: number;
  /** Job type. */
  type: 'check';
  /** The chunk. */
  digest: string;
}

/**
 * What a check job learnt of a sound chunk: a data chunk's length, or a patch's slot length, base
 * and ranges (each non-zero range's chunk and the end of the bytes it takes from it). Verify holds
 * these against one another and against the slots that name them, as a restore would.
 */
export type ChunkFacts =
  | { kind: 'data'; length: number }
  | {
      kind: 'patch';
      slotLength: number;
      base: string;
      ranges: { digest: string; end: number }[];
    };

/** The outcome of a check job: what the chunk is, or its fault. */
export type CheckJobResult =
  | { id: number; ok: true; facts: ChunkFacts }
  | { id: number; ok: false; code: string; message: string };

/** The outcome of a resolve job: the slot's data runs (written already when the job said so). */
export interface ResolveJobResult {
  /** Correlation id. */
  id: number;
  /** Non-zero runs of the slot, relative to its start. */
  runs: DataRun[];
}

/** Range chunks a worker keeps verified (see `ChunkReader.#recent`): packs are 2 MiB at most. */
const RECENT_CHUNKS = 8;
/** Their buffers hold a pack or a small chunk, so one is reused for the next (no fresh pages). */
const RECENT_BUFFER_BYTES = 2 * 1024 * 1024;

const corrupt = (digest: string, why: string): RepoError =>
  new RepoError('REPO_CHUNK_CORRUPT', `chunk ${digest} is corrupt: ${why}`);

/** The worker side of restore's and verify's reads: one per worker thread, synchronous. */
export class ChunkReader {
  readonly #decoder: ChunkDecoder;
  /** Whole chunk files, read before decoding (reused: see `ChunkDecoder`). */
  #file = Buffer.alloc(0);
  /** The payload buffer of check jobs (reused). */
  readonly #rangeData: Buffer[] = [];
  /**
   * Verified payloads of patch ranges' chunks, least recently used first. A pack (see
   * `pack-job.ts`) holds the new bytes of many neighbouring slots, and a slot deep in a chain has
   * ranges in several packs: reading and verifying each once per slot cost a restore of a packed
   * incremental ~45 % more CPU.
   */
  readonly #recent: { digest: string; buf: Buffer; payload: Buffer }[] = [];
  #direct = true;

  /** @param root repository root @param shape the shared arena @param hash the digest algorithm */
  constructor(
    private readonly root: string,
    private readonly shape: ArenaShape,
    private readonly hash: ChunkHash,
  ) {
    this.#decoder = new ChunkDecoder(hash);
  }

  /** Runs one resolve job. Throws `REPO_CHUNK_MISSING` / `REPO_CHUNK_CORRUPT` naming the chunk. */
  run(job: ResolveJob): ResolveJobResult {
    const out = regionView(this.shape, job.region).subarray(0, job.slotLength);
    this.#resolve(job.digest, out);
    const runs = dataRuns(out);
    if (job.write !== null) {
      this.#write(job.write.file, job.write.offset, out, runs);
    }
    return { id: job.id, runs };
  }

  /** Runs one check job; a bad chunk is a result, not an error. */
  check(job: CheckJob): CheckJobResult {
    try {
      const file = this.#readFile(job.digest);
      const raw = decodeChunkHeader(file, job.digest).rawLength;
      const c = this.#decoder.decodeInto(file, job.digest, this.#rangeBuffer(0, raw));
      if (c.kind === ChunkKind.data) {
        return { id: job.id, ok: true, facts: { kind: 'data', length: raw } };
      }
      const p = decodePatch(c.payload, job.digest);
      const ranges = p.ranges
        .filter((r) => r.digest !== ZERO_DIGEST_HEX)
        .map((r) => ({ digest: r.digest, end: r.chunkOffset + r.length }));
      const facts = { kind: 'patch' as const, slotLength: p.slotLength, base: p.base, ranges };
      return { id: job.id, ok: true, facts };
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      return { id: job.id, ok: false, code: checkCode(e), message };
    }
  }

  #resolve(digest: string, out: Buffer): void {
    const patch = this.#readInto(digest, out);
    if (patch === null) {
      return;
    }
    if (patch.slotLength !== out.length) {
      throw corrupt(digest, `patch for ${patch.slotLength} bytes, the slot has ${out.length}`);
    }
    if (patch.base === ZERO_DIGEST_HEX) {
      zeroGaps(out, patch.ranges);
    } else if (this.#readInto(patch.base, out) !== null) {
      throw corrupt(patch.base, 'a patch where a base data chunk was expected');
    }
    const data = new Map<string, Buffer>();
    layRanges(out, patch.ranges, (d) => {
      let b = data.get(d);
      if (b === undefined) {
        b = this.#readData(d, data);
        data.set(d, b);
      }
      return b;
    });
    this.#recent.splice(0, Math.max(0, this.#recent.length - RECENT_CHUNKS));
  }

  /**
   * Reads chunk `digest`: a data chunk fills `out` (exactly its length) and gives null; a patch is
   * returned decoded. A raw data chunk is read straight into `out`.
   */
  #readInto(digest: string, out: Buffer): Patch | null {
    const fd = openChunk(this.root, digest);
    let file: Buffer;
    try {
      const size = fs.fstatSync(fd).size;
      const head = Buffer.alloc(CHUNK_HEADER_BYTES);
      readAt(fd, head, 0, digest);
      const h = decodeChunkHeader(head, digest, size);
      if (h.kind === ChunkKind.data && h.codec === Codec.raw) {
        if (h.rawLength !== out.length) {
          throw corrupt(digest, `${h.rawLength} bytes, the slot has ${out.length}`);
        }
        readAt(fd, out, CHUNK_HEADER_BYTES, digest);
        if (chunkDigest(this.hash, ChunkKind.data, out) !== digest) {
          throw corrupt(digest, 'digest mismatch');
        }
        return null;
      }
      file = this.#fileBuffer(size);
      readAt(fd, file, 0, digest);
    } finally {
      fs.closeSync(fd);
    }
    if (decodeChunkHeader(file, digest).kind === ChunkKind.patch) {
      // patches are small: decoded into a buffer of their own
      return decodePatch(decodeChunk(file, digest, this.hash).payload, digest);
    }
    const c = this.#decoder.decodeInto(file, digest, out);
    checkLength(c.payload, out.length, digest);
    return null;
  }

  /**
   * The payload of data chunk `digest` (a patch range's bytes): a recent one, or read into the
   * least recently used buffer that `inUse` (the patch being resolved) does not read from.
   */
  #readData(digest: string, inUse: ReadonlyMap<string, Buffer>): Buffer {
    const i = this.#recent.findIndex((h) => h.digest === digest);
    const hit = i >= 0 ? this.#recent.splice(i, 1)[0] : undefined;
    if (hit !== undefined) {
      this.#recent.push(hit);
      return hit.payload;
    }
    const file = this.#readFile(digest);
    const raw = decodeChunkHeader(file, digest).rawLength;
    const full = this.#recent.length >= RECENT_CHUNKS;
    const j = full ? this.#recent.findIndex((h) => !inUse.has(h.digest)) : -1;
    const old = j >= 0 ? this.#recent.splice(j, 1)[0] : undefined;
    const buf =
      old !== undefined && old.buf.length >= raw
        ? old.buf
        : Buffer.allocUnsafeSlow(Math.max(raw, RECENT_BUFFER_BYTES));
    const c = this.#decoder.decodeInto(file, digest, buf);
    if (c.kind !== ChunkKind.data) {
      throw corrupt(digest, 'a patch where a data chunk was expected');
    }
    this.#recent.push({ digest, buf, payload: c.payload });
    return c.payload;
  }

  /** Chunk file `digest`, whole, in the reused file buffer. */
  #readFile(digest: string): Buffer {
    const fd = openChunk(this.root, digest);
    try {
      const size = fs.fstatSync(fd).size;
      // never stored larger than its payload (see the codec): a bigger file is not read into memory
      if (size > CHUNK_HEADER_BYTES + MAX_CHUNK_SIZE) {
        throw corrupt(digest, `its file holds ${size} bytes, more than any chunk`);
      }
      const file = this.#fileBuffer(size);
      readAt(fd, file, 0, digest);
      return file;
    } finally {
      fs.closeSync(fd);
    }
  }

  /** Reused payload buffer `k`, at least `n` bytes. */
  #rangeBuffer(k: number, n: number): Buffer {
    let b = this.#rangeData[k];
    if (b === undefined || b.length < n) {
      b = Buffer.alloc(Math.max(n, this.shape.regionBytes));
      this.#rangeData[k] = b;
    }
    return b;
  }

  /** A view of `size` bytes of the reused file buffer, grown when too small. */
  #fileBuffer(size: number): Buffer {
    if (this.#file.length < size) {
      this.#file = Buffer.alloc(Math.max(size, this.shape.regionBytes));
    }
    return this.#file.subarray(0, size);
  }

  /**
   * Writes `runs` of `slot` into `file` at `offset`: with O_DIRECT where a run is block-aligned
   * (the region is page-aligned, runs start on 64 KiB), buffered otherwise (a disk's unaligned
   * tail, or a filesystem that refuses O_DIRECT). The caller fsyncs the file once at the end.
   */
  #write(file: string, offset: number, slot: Buffer, runs: readonly DataRun[]): void {
    const direct = this.#direct ? openDirect(file) : null;
    this.#direct &&= direct !== null;
    let buffered: number | null = null;
    try {
      for (const r of runs) {
        const at = offset + r.at;
        const aligned = at % DIRECT_ALIGN === 0 && r.length % DIRECT_ALIGN === 0;
        if (direct !== null && aligned && this.#directWrite(direct, slot, r, at)) {
          continue;
        }
        buffered ??= fs.openSync(file, fs.constants.O_WRONLY);
        writeAll(buffered, slot, r, at);
      }
    } finally {
      for (const fd of [direct, buffered]) {
        if (fd !== null) {
          fs.closeSync(fd);
        }
      }
    }
  }

  /** One direct write; false (and buffered from now on) when the filesystem refuses it. */
  #directWrite(fd: number, slot: Buffer, r: DataRun, at: number): boolean {
    if (!this.#direct) {
      return false;
    }
    try {
      writeAll(fd, slot, r, at);
      return true;
    } catch (e) {
      if (!isErrno(e, 'EINVAL')) {
        throw e;
      }
      this.#direct = false;
      return false;
    }
  }
}

/** Opens `file` for O_DIRECT writes, or null where the filesystem refuses the flag. */
function openDirect(file: string): number | null {
  try {
    return fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_DIRECT);
  } catch (e) {
    if (isErrno(e, 'EINVAL')) {
      // this filesystem refuses O_DIRECT (tmpfs, some FUSE)
      return null;
    }
    throw e;
  }
}

function writeAll(fd: number, slot: Buffer, r: DataRun, at: number): void {
  for (let done = 0; done < r.length;) {
    done += fs.writeSync(fd, slot, r.at + done, r.length - done, at + done);
  }
}

/**
 * A bad chunk's code: the repository's own; `REPO_CHUNK_UNREADABLE` when the system refused to
 * read the file (an I/O error, permissions), which proves no damage, so verify leaves the chunk
 * in place; anything else (the decoder's own failures) `REPO_CHUNK_CORRUPT`.
 */
function checkCode(e: unknown): string {
  if (e instanceof RepoError) {
    return e.code;
  }
  const system = typeof e === 'object' && e !== null && 'syscall' in e;
  return system ? 'REPO_CHUNK_UNREADABLE' : 'REPO_CHUNK_CORRUPT';
}

function openChunk(root: string, digest: string): number {
  try {
    return fs.openSync(chunkFile(root, digest), 'r');
  } catch (e) {
    if (isErrno(e, 'ENOENT')) {
      throw new RepoError('REPO_CHUNK_MISSING', `chunk ${digest} is missing`, { cause: e });
    }
    throw e;
  }
}

/** Fills `buf` from file offset `pos`; a short file is corrupt. */
function readAt(fd: number, buf: Buffer, pos: number, digest: string): void {
  for (let off = 0; off < buf.length;) {
    const n = fs.readSync(fd, buf, off, buf.length - off, pos + off);
    if (n === 0) {
      throw corrupt(digest, 'truncated');
    }
    off += n;
  }
}

/**
 * Zeroes what `ranges` (sorted, non-overlapping) leave of `out`: a patch over zeros is laid on a
 * reused region, and zeroing all of it before the ranges cost a restore ~0.7 s per worker.
 */
function zeroGaps(out: Buffer, ranges: readonly PatchRange[]): void {
  let at = 0;
  for (const r of ranges) {
    zeroFill(out, at, r.slotOffset);
    at = r.slotOffset + r.length;
  }
  zeroFill(out, at);
}
