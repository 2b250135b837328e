import { RepoError } from '../errors.js';
import { DIGEST_BYTES, INDEX_HEADER_BYTES, INDEX_MAGIC, ZERO_DIGEST_HEX } from './constants.js';

/** A disk index in memory: one 32-byte digest per slot. */
export class DiskIndex {
  /** Slot size in bytes. */
  readonly chunkSize: number;
  /** The disk's virtual size in bytes. */
  readonly virtualSize: number;
  /** Number of slots, `ceil(virtualSize / chunkSize)`. */
  readonly slotCount: number;
  readonly #digests: Buffer;

  /** Creates an index; `digests` (slotCount × 32 bytes) is copied, or all-zero when absent. */
  constructor(chunkSize: number, virtualSize: number, digests?: Buffer) {
    this.chunkSize = chunkSize;
    this.virtualSize = virtualSize;
    this.slotCount = Math.ceil(virtualSize / chunkSize);
    this.#digests = Buffer.alloc(this.slotCount * DIGEST_BYTES);
    if (digests !== undefined) {
      digests.copy(this.#digests);
    }
  }

  /** Length of slot `i` (the last slot may be short). */
  slotLength(i: number): number {
    return Math.min(this.chunkSize, this.virtualSize - i * this.chunkSize);
  }

  /** Hex digest of slot `i` (all zeros for a zero slot). */
  get(i: number): string {
    this.#check(i);
    return this.#digests.toString('hex', i * DIGEST_BYTES, (i + 1) * DIGEST_BYTES);
  }

  /** Sets slot `i` to a hex digest. */
  set(i: number, hex: string): void {
    this.#check(i);
    this.#digests.write(hex, i * DIGEST_BYTES, 'hex');
  }

  /** Distinct non-zero digests named by the index. */
  digests(): Set<string> {
    const out = new Set<string>();
    for (let i = 0; i < this.slotCount; i++) {
      const d = this.get(i);
      if (d !== ZERO_DIGEST_HEX) {
        out.add(d);
      }
    }
    return out;
  }

  /** Encodes the index file. */
  encode(): Buffer {
    const h = Buffer.alloc(INDEX_HEADER_BYTES);
    h.writeUInt32LE(INDEX_MAGIC, 0);
    h.writeUInt8(1, 4);
    h.writeUInt32LE(this.chunkSize, 8);
    h.writeBigUInt64LE(BigInt(this.virtualSize), 16);
    h.writeBigUInt64LE(BigInt(this.slotCount), 24);
    return Buffer.concat([h, this.#digests]);
  }

  /** Decodes an index file. Throws `REPO_INDEX_CORRUPT` naming `name`. */
  static decode(file: Buffer, name: string): DiskIndex {
    const bad = (why: string): RepoError =>
      new RepoError('REPO_INDEX_CORRUPT', `index ${name} is corrupt: ${why}`);
    if (file.length < INDEX_HEADER_BYTES || file.readUInt32LE(0) !== INDEX_MAGIC) {
      throw bad('bad magic');
    }
    if (file.readUInt8(4) !== 1) {
      throw bad('unknown index version');
    }
    const chunkSize = file.readUInt32LE(8);
    const virtualSize = Number(file.readBigUInt64LE(16));
    const slotCount = Number(file.readBigUInt64LE(24));
    if (chunkSize === 0 || slotCount !== Math.ceil(virtualSize / chunkSize)) {
      throw bad('slot count mismatch');
    }
    if (file.length !== INDEX_HEADER_BYTES + slotCount * DIGEST_BYTES) {
      throw bad('length mismatch');
    }
    return new DiskIndex(chunkSize, virtualSize, file.subarray(INDEX_HEADER_BYTES));
  }

  #check(i: number): void {
    if (!Number.isInteger(i) || i < 0 || i >= this.slotCount) {
      throw new RepoError('REPO_BAD_ARGUMENT', `slot ${i} out of range 0..${this.slotCount - 1}`);
    }
  }
}
