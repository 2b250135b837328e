import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import { isErrno } from '../errors.js';
import type { ChunkEncoder } from '../format/chunk-codec.js';
import { chunkDigest, chunkHeaderFor } from '../format/chunk-codec.js';
import {
  CHUNK_HEADER_BYTES,
  type ChunkHash,
  ChunkKind,
  ZERO_DIGEST_HEX,
} from '../format/constants.js';
import { exceedsLimits, patchPayload } from '../format/patch.js';
import { alignedBuffer, type ArenaShape, DIRECT_ALIGN, regionView } from './arena.js';
import { chunkFile } from '../validate.js';
import { layOutPack, type PackJob, type PackJobResult, type PackSlotResult } from './pack-job.js';
import { patchStart, type PatchStart } from './slot-entry.js';

/** A job for a chunk worker: hash, compress and write one payload held in an arena region. */
export interface ChunkJob {
  /** Correlation id. */
  id: number;
  /** Data chunk or patch. */
  kind: ChunkKind;
  /** Arena region holding the payload (after the header room). */
  region: number;
  /** Payload length. */
  length: number;
  /** Wall-clock ms used to touch an existing chunk (injected clock). */
  nowMs: number;
  /** When true, an all-zero data payload is reported as zero and not stored. */
  detectZero: boolean;
}

/**
 * A job renaming published temps into place (see `publish.ts`): synchronous renames in a worker.
 * Through libuv's pool each rename was two thread hand-offs; 1,660 of them (an incremental's
 * chunks) took 190-270 ms that way against 30-45 ms in a loop (measured on the lab machine).
 */
export interface RenameJob {
  /** Correlation id. */
  id: number;
  /** Job type. */
  type: 'rename';
  /** `[from, to]` pairs, renamed in order. */
  pairs: [string, string][];
}

/** The outcome of a rename job: how many pairs were renamed (all of them). */
export interface RenameJobResult {
  /** Correlation id. */
  id: number;
  /** Pairs renamed. */
  renamed: number;
}

/** Renames every pair of `job` in order; the first failure throws (later pairs are left). */
export function runRenames(job: RenameJob): RenameJobResult {
  for (const [from, to] of job.pairs) {
    fs.renameSync(from, to);
  }
  return { id: job.id, renamed: job.pairs.length };
}

/** One chunk a job stored (or found already stored). */
export interface StoredChunk {
  /** Chunk name (the zero digest when `zero`). */
  digest: string;
  /** The payload was all zeros and nothing was stored. */
  zero: boolean;
  /** This job wrote the chunk (false: it existed and was touched). */
  isNew: boolean;
  /** Bytes written to the chunk file (0 when not new). */
  storedBytes: number;
  /**
   * The temp file holding the new chunk, not yet durable nor renamed into place: the writer makes
   * all of its temps durable at once and renames them before it commits (see `publish.ts`).
   */
  temp: string | null;
  /** The payload's length. */
  rawLength: number;
}

/** The outcome of a chunk job. */
export interface ChunkJobResult extends StoredChunk {
  /** Correlation id. */
  id: number;
}

/**
 * Stored chunks at least this long are written with O_DIRECT. Smaller ones go through the page
 * cache: a direct write waits for the device, which for the thousands of 64 KiB chunks of an
 * incremental costs more than the copy it saves.
 */
const DIRECT_FROM = 1024 * 1024;

/**
 * The worker side of chunk storage: one per worker thread, synchronous. An existing chunk is only
 * touched (mtime = now, which GC's lease rule relies on); a new one is written to a temp file in its
 * folder, with O_DIRECT where the filesystem takes it, and left for the writer to publish.
 */
export class ChunkStore {
  readonly #out: Buffer;
  readonly #stage: Buffer;
  #direct = true;
  /**
   * Temp names: pid, a random tag per store (several worker threads share a pid), a counter. One
   * `randomBytes` per chunk cost an incremental's workers ~35 ms each.
   */
  readonly #tempTag = randomBytes(6).toString('hex');
  #temps = 0;

  /**
   * @param root repository root @param encoder compressor @param shape the shared arena
   * @param hash the repository's digest algorithm
   */
  constructor(
    private readonly root: string,
    private readonly encoder: ChunkEncoder,
    private readonly shape: ArenaShape,
    private readonly hash: ChunkHash,
  ) {
    // Compressed output, and raw payloads that do not sit behind header room: page-aligned for
    // O_DIRECT like the arena (a wasm memory is mmap'ed).
    this.#out = alignedBuffer(shape.regionBytes);
    this.#stage = alignedBuffer(shape.regionBytes);
  }

  /** Runs one chunk job. */
  run(job: ChunkJob): ChunkJobResult {
    const region = regionView(this.shape, job.region);
    const payload = region.subarray(CHUNK_HEADER_BYTES, CHUNK_HEADER_BYTES + job.length);
    return { id: job.id, ...this.#store(job.kind, payload, region, job.nowMs, job.detectZero) };
  }

  /**
   * Runs one pack job (see `pack-job.ts`): reads each slot's current entry, stores the pack's
   * bytes that the patches need as one data chunk, then each slot's patch, or leaves a slot whose
   * merged ranges exceed the limits to the caller to compact.
   */
  runPack(job: PackJob): PackJobResult {
    const starts = job.slots.map((s) => patchStart(this.root, s.current, this.hash));
    const compact = job.slots.map((s, i) => {
      const st = starts[i] as PatchStart;
      return exceedsLimits(st.base, st.old, s.ranges, s.slotLength, job.limits);
    });
    const region = regionView(this.shape, job.region);
    const payload = region.subarray(CHUNK_HEADER_BYTES, CHUNK_HEADER_BYTES + job.length);
    const lay = layOutPack(payload, job.slots, compact, isAllZero, ZERO_DIGEST_HEX);
    const written: string[] = [];
    // A failed job reports no result, so no writer learns of the temps written before the failure
    // (a full disk fails a later patch): they are removed here or would be left until a GC.
    const store = (kind: ChunkKind, bytes: Buffer, room: Buffer | null): StoredChunk => {
      const stored = this.#store(kind, bytes, room, job.nowMs, false);
      if (stored.temp !== null) {
        written.push(stored.temp);
      }
      return stored;
    };
    try {
      const data =
        lay.dataLength > 0
          ? store(ChunkKind.data, payload.subarray(0, lay.dataLength), region)
          : null;
      const slots = job.slots.map((s, i): PackSlotResult => {
        const st = starts[i] as PatchStart;
        if (compact[i] === true) {
          return { compact: st };
        }
        const news = (lay.ranges[i] ?? []).map((r) => ({
          ...r,
          digest: r.digest || (data?.digest ?? ''),
        }));
        return {
          patch: store(ChunkKind.patch, patchPayload(st.base, st.old, news, s.slotLength), null),
        };
      });
      return { id: job.id, data, slots };
    } catch (e) {
      for (const t of written) {
        fs.rmSync(t, { force: true });
      }
      throw e;
    }
  }

  /**
   * Stores one payload. `room`, when given, holds the payload after 16 bytes of header room, so a
   * raw chunk is written from it without a copy.
   */
  #store(
    kind: ChunkKind,
    payload: Buffer,
    room: Buffer | null,
    nowMs: number,
    detectZero: boolean,
  ): StoredChunk {
    const base = {
      zero: false,
      isNew: false,
      storedBytes: 0,
      temp: null,
      rawLength: payload.length,
    };
    if (detectZero && kind === ChunkKind.data && isAllZero(payload)) {
      return { ...base, digest: ZERO_DIGEST_HEX, zero: true };
    }
    const digest = chunkDigest(this.hash, kind, payload);
    const target = chunkFile(this.root, digest);
    if (touchIfPresent(target, nowMs)) {
      return { ...base, digest };
    }
    const compressed = this.encoder.compressInto(payload, this.#out.subarray(CHUNK_HEADER_BYTES));
    let file = this.#out;
    if (compressed === null) {
      file = room ?? this.#stage;
      if (room === null) {
        payload.copy(file, CHUNK_HEADER_BYTES);
      }
    }
    chunkHeaderFor(kind, payload.length, compressed).copy(file, 0);
    const length = CHUNK_HEADER_BYTES + (compressed ?? payload.length);
    const temp = this.#writeTemp(target, file, length);
    return { ...base, digest, isNew: true, storedBytes: length, temp };
  }

  /** Writes `file[0, length)` to a new temp file next to `target`; no fsync (see `publish.ts`). */
  #writeTemp(target: string, file: Buffer, length: number): string {
    const temp = path.join(
      path.dirname(target),
      `.tmp-${path.basename(target)}-${process.pid}-${this.#tempTag}-${this.#temps++}`,
    );
    if (this.#direct && length >= DIRECT_FROM) {
      try {
        writeFile(temp, file, length, true);
        return temp;
      } catch (e) {
        // a refused open may still have created the file; the buffered retry needs the name free
        fs.rmSync(temp, { force: true });
        if (!isErrno(e, 'EINVAL')) {
          throw e;
        }
        // This filesystem refuses O_DIRECT (tmpfs, some FUSE): buffered from now on.
        this.#direct = false;
      }
    }
    writeFile(temp, file, length, false);
    return temp;
  }
}

/**
 * Creates `p` exclusively and writes `file[0, length)`. With `direct`, the whole aligned blocks go
 * through a second descriptor opened with O_DIRECT and the unaligned tail (a chunk's 16-byte header
 * makes one) through the page cache, so the file never has to be cut back: an `ftruncate` after an
 * aligned-up write waits for the disk under load (~2-4 ms a chunk). Imitating a full's 512 chunk
 * writes beside `nbdcopy` reading the export: 3.3-3.6 s with the cut, 2.4-2.7 s without (plain
 * 4 MiB O_DIRECT writes: 2.3-2.5 s). In a backup the workers went from always busy to 20-30 %
 * idle, the copy's time unchanged (its reads bound it on the lab machine). The tail is made
 * durable with everything else before the commit (see `publish.ts`). A failed write removes the
 * file: the job fails, so no writer learns of the temp to discard it.
 */
function writeFile(p: string, file: Buffer, length: number, direct: boolean): void {
  const fd = fs.openSync(
    p,
    fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL,
    0o644,
  );
  try {
    const body = direct ? Math.floor(length / DIRECT_ALIGN) * DIRECT_ALIGN : 0;
    if (body > 0) {
      writeDirect(p, file, body);
    }
    writeAll(fd, file, body, length);
  } catch (e) {
    fs.closeSync(fd);
    fs.rmSync(p, { force: true });
    throw e;
  }
  fs.closeSync(fd);
}

/** Writes `file[0, body)` (whole aligned blocks) to the start of `p` with O_DIRECT. */
function writeDirect(p: string, file: Buffer, body: number): void {
  const fd = fs.openSync(p, fs.constants.O_WRONLY | fs.constants.O_DIRECT);
  try {
    writeAll(fd, file, 0, body);
  } finally {
    fs.closeSync(fd);
  }
}

/** Writes `file[from, to)` at the same offsets of `fd`. */
function writeAll(fd: number, file: Buffer, from: number, to: number): void {
  for (let off = from; off < to;) {
    off += fs.writeSync(fd, file, off, to - off, off);
  }
}

/**
 * Sets an existing chunk's mtime to `nowMs` (GC's lease rule); false when there is no such chunk.
 * Probed with a non-throwing stat first: nearly every chunk of an incremental is new, and a failed
 * `utimesSync` builds an exception (~3-6 µs each on the lab machine, thousands per run).
 */
function touchIfPresent(target: string, nowMs: number): boolean {
  if (fs.statSync(target, { throwIfNoEntry: false }) === undefined) {
    return false;
  }
  const t = nowMs / 1000;
  try {
    fs.utimesSync(target, t, t);
    return true;
  } catch (e) {
    // removed between the two calls (a GC sweep): written again like a new chunk
    if (isErrno(e, 'ENOENT')) {
      return false;
    }
    throw e;
  }
}

/** A zero block to compare against (memcmp speed, no per-word work in JS). */
const ZEROS = Buffer.alloc(1024 * 1024);

/** True when every byte is zero. */
export function isAllZero(b: Uint8Array): boolean {
  const buf = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  for (let off = 0; off < buf.length; off += ZEROS.length) {
    const n = Math.min(ZEROS.length, buf.length - off);
    if (buf.compare(ZEROS, 0, n, off, off + n) !== 0) {
      return false;
    }
  }
  return true;
}
