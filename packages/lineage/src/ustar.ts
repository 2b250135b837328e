/**
 * The smallest gzipped ustar (POSIX tar) that carries a Postgres data directory: regular files and
 * directories, no links, no long names. Extraction streams, so the opening process holds one chunk
 * of the 40 MB archive rather than all of it; anything outside that subset is refused rather than
 * guessed at, because the result becomes a database.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, readdir, readFile, stat, type FileHandle } from 'node:fs/promises';
import { join, normalize, posix, relative, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';

import { LineageError } from './errors.js';

const BLOCK = 512;
/** Fewer, larger writes: 16 KiB chunks made extraction take seconds; 1 MiB is still small. */
const CHUNK = 1024 * 1024;

function invalid(message: string): LineageError {
  return new LineageError('DATA_DIR_INIT_FAILED', `data directory archive: ${message}`);
}

function cstr(h: Buffer, start: number, len: number): string {
  const field = h.subarray(start, start + len);
  const end = field.indexOf(0);
  return field.subarray(0, end < 0 ? len : end).toString('utf8');
}

function octal(h: Buffer, start: number, len: number): number {
  const text = cstr(h, start, len).trim();
  if (!/^[0-7]+$/.test(text)) {
    throw invalid(`bad octal field ${JSON.stringify(text)}`);
  }
  return parseInt(text, 8);
}

function checksum(h: Buffer): number {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) {
    // the checksum field counts as spaces
    sum += i >= 148 && i < 156 ? 0x20 : (h[i] ?? 0);
  }
  return sum;
}

/** One parsed header; `path` is relative, normalised and never leaves the destination. */
interface Header {
  path: string;
  type: 'file' | 'dir';
  size: number;
}

function parseHeader(h: Buffer): Header {
  if (checksum(h) !== octal(h, 148, 8)) {
    throw invalid('header checksum mismatch');
  }
  if (cstr(h, 257, 6) !== 'ustar') {
    throw invalid('not a ustar archive');
  }
  const prefix = cstr(h, 345, 155);
  const name = cstr(h, 0, 100);
  const path = normalize((prefix ? `${prefix}/${name}` : name).replace(/^\/+/, '') || '.');
  if (path.split(sep).includes('..')) {
    throw invalid(`entry outside the directory: ${name}`);
  }
  const flag = String.fromCharCode(h[156] ?? 0);
  if (flag !== '0' && flag !== '\0' && flag !== '5') {
    throw invalid(`unsupported entry type ${JSON.stringify(flag)} for ${path}`);
  }
  const type = flag === '5' ? 'dir' : 'file';
  return { path, type, size: type === 'dir' ? 0 : octal(h, 124, 12) };
}

/** Streaming extractor: feed it the gunzipped bytes in order, then call `finish`. */
class Extractor {
  #pending: Buffer = Buffer.alloc(0);
  #file: FileHandle | undefined;
  #left = 0;
  #skip = 0;
  #ended = false;

  constructor(private readonly dest: string) {}

  async push(chunk: Buffer): Promise<void> {
    this.#pending = this.#pending.length ? Buffer.concat([this.#pending, chunk]) : chunk;
    while (!this.#ended && this.#pending.length > 0) {
      if (this.#left > 0) {
        await this.#body();
      } else if (this.#skip > 0) {
        this.#skip -= this.#take(Math.min(this.#skip, this.#pending.length)).length;
      } else if (this.#pending.length >= BLOCK) {
        await this.#header(this.#take(BLOCK));
      } else {
        return;
      }
    }
  }

  /** Throws unless the archive ended with its end-of-archive block and no file is half-written. */
  async finish(): Promise<void> {
    await this.#file?.close();
    if (!this.#ended || this.#left > 0) {
      throw invalid('truncated');
    }
  }

  /** Releases the open file after a failure; the caller discards the whole directory. */
  async abort(): Promise<void> {
    await this.#file?.close().catch(() => undefined);
    this.#file = undefined;
  }

  #take(n: number): Buffer {
    const head = this.#pending.subarray(0, n);
    this.#pending = this.#pending.subarray(n);
    return head;
  }

  async #body(): Promise<void> {
    const data = this.#take(Math.min(this.#left, this.#pending.length));
    await this.#file?.write(data);
    this.#left -= data.length;
    if (this.#left === 0) {
      await this.#file?.close();
      this.#file = undefined;
    }
  }

  async #header(h: Buffer): Promise<void> {
    if (h.every((b) => b === 0)) {
      this.#ended = true;
      return;
    }
    const e = parseHeader(h);
    const target = join(this.dest, e.path);
    if (e.type === 'dir') {
      await mkdir(target, { recursive: true, mode: 0o700 });
      return;
    }
    await mkdir(join(target, '..'), { recursive: true, mode: 0o700 });
    // 'wx': an entry twice in one archive is corruption, not something to overwrite; 0600 whatever
    // the generator's umask was, a lineage is private to its user
    const file = await open(target, 'wx', 0o600);
    this.#left = e.size;
    this.#skip = (BLOCK - (e.size % BLOCK)) % BLOCK;
    if (e.size === 0) {
      await file.close();
    } else {
      this.#file = file;
    }
  }
}

/** Extracts the gzipped ustar `archive` into the existing, empty directory `dest`. */
export async function extractTarGz(archive: string | URL, dest: string): Promise<void> {
  const x = new Extractor(dest);
  const file = createReadStream(archive);
  const gunzip = createGunzip({ chunkSize: CHUNK });
  file.on('error', (e) => gunzip.destroy(e));
  // one chunk at a time: a failure surfaces between writes, never during one, so nothing writes
  // into the directory after this rejects and the caller removes it
  try {
    for await (const chunk of file.pipe(gunzip)) {
      await x.push(chunk as Buffer);
    }
  } catch (e) {
    file.destroy();
    await x.abort();
    throw e instanceof LineageError ? e : invalid(String(e));
  }
  await x.finish();
}

function header(path: string, type: 'file' | 'dir', size: number): Buffer {
  const h = Buffer.alloc(BLOCK);
  if (Buffer.byteLength(path) > 100) {
    throw invalid(`name longer than 100 bytes: ${path}`);
  }
  const put = (text: string, at: number): void => void h.write(text, at, 'utf8');
  put(path, 0);
  // fixed modes, times and owners: the archive then depends only on the contents
  put(type === 'dir' ? '0000700\0' : '0000600\0', 100);
  put('0000000\0', 108);
  put('0000000\0', 116);
  put(`${size.toString(8).padStart(11, '0')}\0`, 124);
  put('00000000000\0', 136);
  put(type === 'dir' ? '5' : '0', 156);
  put('ustar\x0000', 257);
  put(`${checksum(h).toString(8).padStart(6, '0')}\0 `, 148);
  return h;
}

async function* entries(root: string, dir: string): AsyncGenerator<Buffer> {
  for (const name of (await readdir(dir)).sort()) {
    const full = join(dir, name);
    const path = relative(root, full).split(sep).join(posix.sep);
    const st = await stat(full);
    if (st.isDirectory()) {
      yield header(`${path}/`, 'dir', 0);
      yield* entries(root, full);
    } else if (st.isFile()) {
      const data = await readFile(full);
      yield header(path, 'file', data.length);
      yield data;
      yield Buffer.alloc((BLOCK - (data.length % BLOCK)) % BLOCK);
    } else {
      throw invalid(`not a file or directory: ${full}`);
    }
  }
}

/** Writes the tree under `root` as a gzipped ustar to `archive` (template generation only). */
export async function writeTarGz(root: string, archive: string): Promise<void> {
  async function* all(): AsyncGenerator<Buffer> {
    yield* entries(root, root);
    yield Buffer.alloc(2 * BLOCK);
  }
  await pipeline(all(), createGzip({ level: 9 }), createWriteStream(archive, { flags: 'wx' }));
}
