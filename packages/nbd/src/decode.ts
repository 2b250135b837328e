/**
 * Pure incremental decoder of transmission-phase replies (simple replies and
 * structured reply chunks). Feed it socket bytes with push(); it returns the
 * messages completed so far. It keeps an explicit read state, copies only
 * small headers/payloads, and caps every length it is told about.
 */
import { NbdError } from './errors.js';
import { ReplyCoverage } from './reply-coverage.js';
import {
  type CookieLookup,
  DEFAULT_DECODER_LIMITS,
  type DecoderLimits,
  type PayloadTarget,
  type PendingInfo,
  type ReplyMessage,
} from './reply-messages.js';
import {
  NBD_MAX_STRING,
  NBD_REPLY_FLAG_DONE,
  NBD_REPLY_TYPE_BLOCK_STATUS,
  NBD_REPLY_TYPE_ERROR,
  NBD_REPLY_TYPE_ERROR_BIT,
  NBD_REPLY_TYPE_ERROR_OFFSET,
  NBD_REPLY_TYPE_NONE,
  NBD_REPLY_TYPE_OFFSET_DATA,
  NBD_REPLY_TYPE_OFFSET_HOLE,
  NBD_SIMPLE_REPLY_MAGIC,
  NBD_STRUCTURED_REPLY_MAGIC,
  SIMPLE_REPLY_HEADER_SIZE,
  STRUCTURED_REPLY_HEADER_SIZE,
} from './protocol.js';

// the decoder's vocabulary, for those who import it from here
export * from './reply-messages.js';

const ST_MAGIC = 0;
const ST_HEADER = 1;
const ST_DATA_OFFSET = 2;
const ST_PAYLOAD = 3;
const ST_SMALL = 4;

const TWO_32 = 0x1_0000_0000;

function u64(b: Buffer, at: number): number {
  return b.readUInt32BE(at) * TWO_32 + b.readUInt32BE(at + 4);
}

/** Incremental reply decoder; throws {@link NbdError} on any protocol violation. */
export class ReplyDecoder {
  private state = ST_MAGIC;
  private readonly stage = Buffer.alloc(STRUCTURED_REPLY_HEADER_SIZE);
  private staged = 0;
  private need = 4;
  private small = Buffer.alloc(0);
  private cookie = 0;
  private chunkType = 0;
  private chunkFlags = 0;
  private chunkLen = 0;
  private simple = false;
  private dataOffset = 0;
  private dataLeft = 0;
  private out: ReplyMessage[] = [];
  private failure: NbdError | undefined;
  private readonly coverage = new ReplyCoverage();
  /**
   * Cookies whose reply ended within the current `push`: the caller forgets them only once it
   * handles the `done` message, after the whole push, so a chunk the server sends after DONE in
   * the same read would find the cookie still pending and be dropped unseen.
   */
  private readonly endedInPush = new Set<number>();

  /**
   * Builds a decoder that resolves cookies through `lookup`. `structured`: whether structured
   * replies were negotiated (undefined: either kind is taken). The spec: with them the server
   * "MUST NOT use a simple reply for NBD_CMD_READ", without them it must not send chunks; a simple
   * reply to a read where chunks were due would have its next bytes taken for data.
   */
  constructor(
    private readonly lookup: CookieLookup,
    private readonly limits: DecoderLimits = DEFAULT_DECODER_LIMITS,
    private readonly structured?: boolean,
  ) {}

  /** True when no reply is partially decoded (a clean point to close). */
  get idle(): boolean {
    return this.state === ST_MAGIC && this.staged === 0;
  }

  /** The data payload in progress, if any. */
  payloadTarget(): PayloadTarget | undefined {
    if (this.state !== ST_PAYLOAD) {
      return undefined;
    }
    return { cookie: this.cookie, offset: this.dataOffset, length: this.dataLeft };
  }

  /**
   * Bytes still missing before a data payload could start, counting a header that is yet to
   * come as a data chunk's (`structured`: chunk header and offset; else a simple reply's header).
   * 0 inside a payload or a small chunk. Reading exactly this much lets the payload that follows
   * be read straight into its destination.
   */
  fixedLeft(structured: boolean): number {
    switch (this.state) {
      case ST_MAGIC:
        return (
          (structured ? STRUCTURED_REPLY_HEADER_SIZE + 8 : SIMPLE_REPLY_HEADER_SIZE) - this.staged
        );
      case ST_HEADER:
        return this.need - this.staged + (this.need === STRUCTURED_REPLY_HEADER_SIZE ? 8 : 0);
      case ST_DATA_OFFSET:
        return this.need - this.staged;
      default:
        return 0;
    }
  }

  /** Consumes bytes and returns the messages they complete. */
  push(chunk: Uint8Array): ReplyMessage[] {
    if (this.failure) {
      throw this.failure;
    }
    this.out = [];
    this.endedInPush.clear();
    try {
      let pos = 0;
      while (pos < chunk.length) {
        pos = this.step(chunk, pos);
      }
    } catch (e) {
      this.failure =
        e instanceof NbdError ? e : new NbdError('NBD_ERR_REPLY_TYPE', String(e), { cause: e });
      throw this.failure;
    }
    return this.out;
  }

  private step(chunk: Uint8Array, pos: number): number {
    if (this.state === ST_PAYLOAD) {
      return this.payload(chunk, pos);
    }
    if (this.state === ST_SMALL) {
      const n = Math.min(this.chunkLen - this.staged, chunk.length - pos);
      this.small.set(chunk.subarray(pos, pos + n), this.staged);
      this.staged += n;
      if (this.staged === this.chunkLen) {
        this.staged = 0;
        this.finishSmall();
      }
      return pos + n;
    }
    const n = Math.min(this.need - this.staged, chunk.length - pos);
    this.stage.set(chunk.subarray(pos, pos + n), this.staged);
    this.staged += n;
    if (this.staged === this.need) {
      this.staged = 0;
      this.fixedDone();
    }
    return pos + n;
  }

  private fixedDone(): void {
    if (this.state === ST_MAGIC) {
      const magic = this.stage.readUInt32BE(0);
      if (magic === NBD_SIMPLE_REPLY_MAGIC) {
        this.need = SIMPLE_REPLY_HEADER_SIZE;
      } else if (magic === NBD_STRUCTURED_REPLY_MAGIC) {
        if (this.structured === false) {
          throw new NbdError('NBD_ERR_REPLY_TYPE', 'a reply chunk, structured replies refused');
        }
        this.need = STRUCTURED_REPLY_HEADER_SIZE;
      } else {
        throw new NbdError('NBD_ERR_REPLY_MAGIC', `bad reply magic 0x${magic.toString(16)}`);
      }
      this.staged = 4;
      this.state = ST_HEADER;
    } else if (this.state === ST_HEADER) {
      if (this.need === SIMPLE_REPLY_HEADER_SIZE) {
        this.simpleHeader();
      } else {
        this.structuredHeader();
      }
    } else {
      this.dataOffset = u64(this.stage, 0);
      this.startData();
    }
  }

  private pending(cookie: number): PendingInfo {
    const info = this.lookup(cookie);
    if (!info) {
      throw new NbdError('NBD_ERR_REPLY_COOKIE', `reply for unknown cookie ${cookie}`);
    }
    if (this.endedInPush.has(cookie)) {
      throw new NbdError(
        'NBD_ERR_REPLY_COOKIE',
        `a chunk for cookie ${cookie} after its reply ended`,
      );
    }
    return info;
  }

  private readCookie(at: number): number {
    const hi = this.stage.readUInt32BE(at);
    // Our cookies stay below 2^32; a larger one cannot be ours.
    if (hi !== 0) {
      throw new NbdError('NBD_ERR_REPLY_COOKIE', `reply for unknown cookie hi=${hi}`);
    }
    return this.stage.readUInt32BE(at + 4);
  }

  private simpleHeader(): void {
    const errno = this.stage.readUInt32BE(4);
    this.cookie = this.readCookie(8);
    const info = this.pending(this.cookie);
    if (this.structured === true && info.kind === 'read' && errno === 0 && info.length > 0) {
      throw new NbdError('NBD_ERR_REPLY_TYPE', 'a simple reply to a read (structured replies)');
    }
    this.simple = true;
    this.reset();
    if (info.kind === 'read' && errno === 0 && info.length > 0) {
      this.state = ST_PAYLOAD;
      this.dataOffset = info.offset;
      this.dataLeft = info.length;
      return;
    }
    this.done(errno);
  }

  /** The current reply is complete. */
  private done(errno: number): void {
    this.coverage.end(this.cookie);
    this.endedInPush.add(this.cookie);
    this.out.push({ type: 'done', cookie: this.cookie, errno });
  }

  private structuredHeader(): void {
    this.chunkFlags = this.stage.readUInt16BE(4);
    this.chunkType = this.stage.readUInt16BE(6);
    this.cookie = this.readCookie(8);
    this.chunkLen = this.stage.readUInt32BE(16);
    this.simple = false;
    const info = this.pending(this.cookie);
    this.reset();
    this.checkChunk(info);
    if (this.chunkType === NBD_REPLY_TYPE_OFFSET_DATA) {
      this.state = ST_DATA_OFFSET;
      this.need = 8;
    } else if (this.chunkLen === 0) {
      this.finishSmall();
    } else {
      this.state = ST_SMALL;
      this.small = Buffer.allocUnsafe(this.chunkLen);
    }
  }

  private checkChunk(info: PendingInfo): void {
    const t = this.chunkType;
    const len = this.chunkLen;
    const bad = (what: string): never => {
      throw new NbdError('NBD_ERR_REPLY_LENGTH', `chunk type ${t}: ${what} (length ${len})`);
    };
    if (t === NBD_REPLY_TYPE_OFFSET_DATA || t === NBD_REPLY_TYPE_OFFSET_HOLE) {
      if (info.kind !== 'read') {
        throw new NbdError('NBD_ERR_REPLY_TYPE', `data chunk for a non-read request`);
      }
      if (t === NBD_REPLY_TYPE_OFFSET_HOLE && len !== 12) {
        bad('hole chunk must be 12 bytes');
      }
      if (t === NBD_REPLY_TYPE_OFFSET_DATA && len - 8 > info.length) {
        throw new NbdError('NBD_ERR_REPLY_TOO_LONG', `data chunk of ${len - 8} > ${info.length}`);
      }
      if (t === NBD_REPLY_TYPE_OFFSET_DATA && len <= 8) {
        bad('empty data chunk');
      }
    } else if (t === NBD_REPLY_TYPE_BLOCK_STATUS) {
      if (info.kind !== 'status') {
        throw new NbdError('NBD_ERR_REPLY_TYPE', `block status chunk for a non-status request`);
      }
      if (len < 12 || (len - 4) % 8 !== 0 || len > this.limits.maxSmallPayload) {
        bad('bad block status length');
      }
    } else if (t === NBD_REPLY_TYPE_NONE) {
      if (len !== 0 || (this.chunkFlags & NBD_REPLY_FLAG_DONE) === 0) {
        bad('NONE chunk must be empty and final');
      }
    } else if ((t & NBD_REPLY_TYPE_ERROR_BIT) !== 0) {
      if (len < 6 || len > 14 + NBD_MAX_STRING) {
        bad('bad error chunk length');
      }
    } else {
      throw new NbdError('NBD_ERR_REPLY_TYPE', `unknown reply chunk type ${t}`);
    }
  }

  private reset(): void {
    this.state = ST_MAGIC;
    this.need = 4;
    this.staged = 0;
  }

  private startData(): void {
    const info = this.pending(this.cookie);
    const len = this.chunkLen - 8;
    if (this.dataOffset < info.offset || this.dataOffset + len > info.offset + info.length) {
      throw new NbdError(
        'NBD_ERR_REPLY_RANGE',
        `data [${this.dataOffset}, +${len}) outside request [${info.offset}, +${info.length})`,
      );
    }
    this.coverage.claim(this.cookie, this.dataOffset, len);
    this.dataLeft = len;
    this.state = ST_PAYLOAD;
  }

  private payload(chunk: Uint8Array, pos: number): number {
    const n = Math.min(this.dataLeft, chunk.length - pos);
    this.out.push({
      type: 'data',
      cookie: this.cookie,
      offset: this.dataOffset,
      bytes: chunk.subarray(pos, pos + n),
    });
    this.dataOffset += n;
    this.dataLeft -= n;
    if (this.dataLeft === 0) {
      this.reset();
      if (this.simple) {
        this.done(0);
      } else {
        this.chunkEnd();
      }
    }
    return pos + n;
  }

  private chunkEnd(): void {
    this.reset();
    if ((this.chunkFlags & NBD_REPLY_FLAG_DONE) !== 0) {
      this.done(0);
    }
  }

  private finishSmall(): void {
    const t = this.chunkType;
    const b = this.small.subarray(0, this.chunkLen);
    if (t === NBD_REPLY_TYPE_OFFSET_HOLE) {
      this.hole(b);
    } else if (t === NBD_REPLY_TYPE_BLOCK_STATUS) {
      const pairs = new Uint32Array((b.length - 4) / 4);
      for (let i = 0; i < pairs.length; i++) {
        pairs[i] = b.readUInt32BE(4 + 4 * i);
      }
      const contextId = b.readUInt32BE(0);
      this.coverage.context(this.cookie, contextId);
      this.out.push({ type: 'status', cookie: this.cookie, contextId, pairs });
    } else if ((t & NBD_REPLY_TYPE_ERROR_BIT) !== 0) {
      this.error(b);
    }
    this.small = Buffer.alloc(0);
    this.chunkEnd();
  }

  private hole(b: Buffer): void {
    const info = this.pending(this.cookie);
    const offset = u64(b, 0);
    const length = b.readUInt32BE(8);
    if (length === 0 || offset < info.offset || offset + length > info.offset + info.length) {
      throw new NbdError('NBD_ERR_REPLY_RANGE', `hole [${offset}, +${length}) outside request`);
    }
    this.coverage.claim(this.cookie, offset, length);
    this.out.push({ type: 'hole', cookie: this.cookie, offset, length });
  }

  private error(b: Buffer): void {
    const errno = b.readUInt32BE(0);
    const msgLen = b.readUInt16BE(4);
    const withOffset = this.chunkType === NBD_REPLY_TYPE_ERROR_OFFSET;
    const expect = 6 + msgLen + (withOffset ? 8 : 0);
    const known = this.chunkType === NBD_REPLY_TYPE_ERROR || withOffset;
    if ((known && expect !== b.length) || expect > b.length || errno === 0) {
      throw new NbdError('NBD_ERR_REPLY_LENGTH', `malformed error chunk`);
    }
    const message = b.toString('utf8', 6, 6 + msgLen);
    const offset = withOffset ? u64(b, 6 + msgLen) : undefined;
    const info = this.pending(this.cookie);
    // the spec: the offset "MUST lie within the original offset and length of the request"
    const end = info.offset + info.length;
    if (offset !== undefined && info.length > 0 && (offset < info.offset || offset >= end)) {
      throw new NbdError('NBD_ERR_REPLY_RANGE', `error chunk offset ${offset} outside request`);
    }
    this.out.push({ type: 'error', cookie: this.cookie, errno, message, offset });
  }
}
