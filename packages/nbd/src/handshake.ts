/**
 * Pure state machine for fixed newstyle negotiation (spec: Handshake). It is
 * fed server bytes and returns the bytes to send; it never touches a socket.
 * Options go one at a time: STRUCTURED_REPLY, LIST_META_CONTEXT,
 * SET_META_CONTEXT, then GO with NBD_INFO_BLOCK_SIZE.
 */
import { encodeClientFlags, encodeGo, encodeMetaContext, encodeOption } from './encode.js';
import { NbdError } from './errors.js';
import {
  IHAVEOPT,
  NBD_FLAG_C_FIXED_NEWSTYLE,
  NBD_FLAG_C_NO_ZEROES,
  NBD_FLAG_FIXED_NEWSTYLE,
  NBD_FLAG_NO_ZEROES,
  NBD_INFO_BLOCK_SIZE,
  NBD_INFO_EXPORT,
  NBD_OLDSTYLE_MAGIC,
  NBD_OPTION_REPLY_MAGIC,
  NBD_OPT_ABORT,
  NBD_OPT_GO,
  NBD_OPT_LIST_META_CONTEXT,
  NBD_OPT_SET_META_CONTEXT,
  NBD_OPT_STRUCTURED_REPLY,
  NBD_REP_ACK,
  NBD_REP_ERR_UNKNOWN,
  NBD_REP_ERR_UNSUP,
  NBD_REP_FLAG_ERROR,
  NBD_REP_INFO,
  NBD_REP_META_CONTEXT,
  NBDMAGIC,
  OPTION_REPLY_HEADER_SIZE,
} from './protocol.js';

/** What the client asks for during negotiation. */
export interface HandshakeOptions {
  /** Export name ('' is the default export). */
  readonly exportName: string;
  /** Metadata contexts to select; each must be granted. */
  readonly metaContexts: readonly string[];
  /** Queries for NBD_OPT_LIST_META_CONTEXT; omitted = do not list. */
  readonly listMetaContexts?: readonly string[] | undefined;
}

/** Server block size constraints (NBD_INFO_BLOCK_SIZE). */
export interface BlockSize {
  /** Minimum block size. */
  readonly minimum: number;
  /** Preferred block size. */
  readonly preferred: number;
  /** Maximum payload size. */
  readonly maximum: number;
}

/** The negotiated export. */
export interface ExportInfo {
  /** Export size in bytes. */
  readonly size: number;
  /** Transmission flags (NBD_FLAG_*). */
  readonly transmissionFlags: number;
  /** Block sizes, when the server sent NBD_INFO_BLOCK_SIZE. */
  readonly blockSize: BlockSize | undefined;
  /** Whether structured replies were negotiated. */
  readonly structuredReplies: boolean;
  /** Granted metadata contexts: name to context id. */
  readonly metaContexts: ReadonlyMap<string, number>;
  /** Names returned by NBD_OPT_LIST_META_CONTEXT (empty if not asked). */
  readonly listedMetaContexts: readonly string[];
}

/** Largest option reply payload accepted; replies here are a few strings. */
export const MAX_OPTION_REPLY = 64 * 1024;

/** Handshake failures that a well-formed server reply caused: the haggling is still in step. */
const REFUSALS: ReadonlySet<string> = new Set([
  'NBD_ERR_EXPORT_UNKNOWN',
  'NBD_ERR_OPT_REJECTED',
  'NBD_ERR_META_CONTEXT_MISSING',
  'NBD_ERR_NO_STRUCTURED_REPLY',
]);

interface Reply {
  readonly option: number;
  readonly type: number;
  readonly data: Buffer;
}

/** Result of feeding bytes to the handshake. */
export interface HandshakeStep {
  /** Bytes to write to the server, in order. */
  readonly send: Buffer[];
  /** True once NBD_OPT_GO was acknowledged: transmission phase begins. */
  readonly done: boolean;
}

/** Fixed newstyle negotiation as a pure state machine. */
export class Handshake {
  private buf = Buffer.alloc(0);
  private greeted = false;
  private finished = false;
  private readonly queue: number[] = [];
  private structured = false;
  private readonly granted = new Map<string, number>();
  private readonly listed: string[] = [];
  private size: number | undefined;
  private flags = 0;
  private blockSize: BlockSize | undefined;

  /** Prepares negotiation with the given wishes. */
  constructor(private readonly opts: HandshakeOptions) {
    this.queue.push(NBD_OPT_STRUCTURED_REPLY);
    if (opts.listMetaContexts !== undefined) {
      this.queue.push(NBD_OPT_LIST_META_CONTEXT);
    }
    if (opts.metaContexts.length > 0) {
      this.queue.push(NBD_OPT_SET_META_CONTEXT);
    }
    this.queue.push(NBD_OPT_GO);
  }

  /** Feeds server bytes; throws {@link NbdError} on any violation. */
  push(chunk: Uint8Array): HandshakeStep {
    this.buf = Buffer.concat([this.buf, chunk]);
    const send: Buffer[] = [];
    if (!this.greeted) {
      if (this.buf.length < 18) {
        return { send, done: false };
      }
      send.push(...this.greeting());
    }
    for (let r = this.nextReply(); r && !this.finished; r = this.nextReply()) {
      send.push(...this.onReply(r));
    }
    return { send, done: this.finished };
  }

  /**
   * NBD_OPT_ABORT, to send before closing after `e` ended the handshake, when the option haggling
   * is still in step: a refusal came in a well-formed reply, so the server waits for the next
   * option and should learn that none comes. Null after a protocol violation (a hard disconnect
   * then) or once the haggling is over.
   */
  abortFor(e: unknown): Buffer | null {
    const inStep = e instanceof NbdError && REFUSALS.has(e.code);
    return inStep && this.greeted && !this.finished ? encodeOption(NBD_OPT_ABORT) : null;
  }

  /** The negotiated export; only valid once push() reported done. */
  result(): ExportInfo {
    if (!this.finished || this.size === undefined) {
      throw new NbdError('NBD_ERR_EXPORT_INFO', 'handshake not finished');
    }
    return {
      size: this.size,
      transmissionFlags: this.flags,
      blockSize: this.blockSize,
      structuredReplies: this.structured,
      metaContexts: this.granted,
      listedMetaContexts: this.listed,
    };
  }

  private greeting(): Buffer[] {
    const magic = this.buf.readBigUInt64BE(0);
    const second = this.buf.readBigUInt64BE(8);
    if (magic !== NBDMAGIC) {
      throw new NbdError('NBD_ERR_HANDSHAKE_MAGIC', `bad server magic 0x${magic.toString(16)}`);
    }
    if (second !== IHAVEOPT) {
      const what = second === NBD_OLDSTYLE_MAGIC ? 'oldstyle negotiation' : 'bad option magic';
      throw new NbdError('NBD_ERR_HANDSHAKE_MAGIC', `${what} 0x${second.toString(16)}`);
    }
    const hflags = this.buf.readUInt16BE(16);
    if ((hflags & NBD_FLAG_FIXED_NEWSTYLE) === 0) {
      throw new NbdError('NBD_ERR_HANDSHAKE_FLAGS', 'server does not speak fixed newstyle');
    }
    this.buf = this.buf.subarray(18);
    this.greeted = true;
    const cflags =
      NBD_FLAG_C_FIXED_NEWSTYLE | (hflags & NBD_FLAG_NO_ZEROES ? NBD_FLAG_C_NO_ZEROES : 0);
    return [encodeClientFlags(cflags), this.optionBytes()];
  }

  private optionBytes(): Buffer {
    const opt = this.queue[0];
    const { exportName, metaContexts, listMetaContexts } = this.opts;
    if (opt === NBD_OPT_GO) {
      return encodeGo(exportName, [NBD_INFO_BLOCK_SIZE]);
    }
    if (opt === NBD_OPT_LIST_META_CONTEXT) {
      return encodeMetaContext(opt, exportName, listMetaContexts ?? []);
    }
    if (opt === NBD_OPT_SET_META_CONTEXT) {
      return encodeMetaContext(opt, exportName, metaContexts);
    }
    return encodeOption(NBD_OPT_STRUCTURED_REPLY);
  }

  private nextReply(): Reply | undefined {
    if (!this.greeted || this.buf.length < OPTION_REPLY_HEADER_SIZE) {
      return undefined;
    }
    const magic = this.buf.readBigUInt64BE(0);
    if (magic !== NBD_OPTION_REPLY_MAGIC) {
      throw new NbdError(
        'NBD_ERR_OPT_REPLY_MAGIC',
        `bad option reply magic 0x${magic.toString(16)}`,
      );
    }
    const option = this.buf.readUInt32BE(8);
    const type = this.buf.readUInt32BE(12);
    const len = this.buf.readUInt32BE(16);
    if (len > MAX_OPTION_REPLY) {
      throw new NbdError('NBD_ERR_OPT_REPLY_LENGTH', `option reply of ${len} bytes`);
    }
    if (option !== this.queue[0]) {
      throw new NbdError('NBD_ERR_OPT_REPLY_MISMATCH', `reply to option ${option}`);
    }
    if (this.buf.length < OPTION_REPLY_HEADER_SIZE + len) {
      return undefined;
    }
    const data = Buffer.from(this.buf.subarray(20, 20 + len));
    this.buf = this.buf.subarray(20 + len);
    return { option, type, data };
  }

  private onReply(r: Reply): Buffer[] {
    if ((r.type & NBD_REP_FLAG_ERROR) !== 0) {
      this.onError(r);
    } else if (r.type === NBD_REP_META_CONTEXT) {
      this.onMetaContext(r);
    } else if (r.type === NBD_REP_INFO && r.option === NBD_OPT_GO) {
      this.onInfo(r.data);
    } else if (r.type !== NBD_REP_ACK) {
      throw new NbdError('NBD_ERR_OPT_REPLY_TYPE', `option ${r.option}: reply type ${r.type}`);
    } else {
      this.onAck(r.option);
    }
    return this.advance(r);
  }

  private advance(r: Reply): Buffer[] {
    const final = r.type === NBD_REP_ACK || (r.type & NBD_REP_FLAG_ERROR) !== 0;
    if (!final || this.finished) {
      return [];
    }
    this.queue.shift();
    return this.queue.length > 0 ? [this.optionBytes()] : [];
  }

  private onError(r: Reply): void {
    const msg = r.data.toString('utf8');
    if (r.option === NBD_OPT_STRUCTURED_REPLY && r.type === NBD_REP_ERR_UNSUP) {
      if (this.opts.metaContexts.length > 0 || this.opts.listMetaContexts !== undefined) {
        throw new NbdError('NBD_ERR_NO_STRUCTURED_REPLY', 'server refuses structured replies');
      }
      return;
    }
    if (r.option === NBD_OPT_GO && r.type === NBD_REP_ERR_UNKNOWN) {
      throw new NbdError('NBD_ERR_EXPORT_UNKNOWN', `export '${this.opts.exportName}': ${msg}`);
    }
    const code = (r.type - NBD_REP_FLAG_ERROR) >>> 0;
    throw new NbdError('NBD_ERR_OPT_REJECTED', `option ${r.option} refused (${code}): ${msg}`);
  }

  private onMetaContext(r: Reply): void {
    if (r.data.length < 5 || r.option === NBD_OPT_GO || r.option === NBD_OPT_STRUCTURED_REPLY) {
      throw new NbdError('NBD_ERR_OPT_REPLY_TYPE', 'malformed NBD_REP_META_CONTEXT');
    }
    const id = r.data.readUInt32BE(0);
    const name = r.data.toString('utf8', 4);
    if (r.option === NBD_OPT_LIST_META_CONTEXT) {
      this.listed.push(name);
      return;
    }
    // the spec: one reply per selected context, "each with a unique metadata context ID"; a
    // context granted under another's id (or never asked for) would have its extents read as
    // that other context's
    const known = this.opts.metaContexts.includes(name);
    const taken = [...this.granted.values()].includes(id) || this.granted.has(name);
    if (!known || taken) {
      throw new NbdError(
        'NBD_ERR_OPT_REPLY_MISMATCH',
        `context '${name}' granted as ${id}: ${known ? 'a repeated name or id' : 'not asked for'}`,
      );
    }
    this.granted.set(name, id);
  }

  private onInfo(d: Buffer): void {
    if (d.length < 2) {
      throw new NbdError('NBD_ERR_EXPORT_INFO', 'empty NBD_REP_INFO');
    }
    const type = d.readUInt16BE(0);
    if (type === NBD_INFO_EXPORT) {
      if (d.length !== 12) {
        throw new NbdError('NBD_ERR_EXPORT_INFO', 'NBD_INFO_EXPORT must be 12 bytes');
      }
      this.size = d.readUInt32BE(2) * 0x1_0000_0000 + d.readUInt32BE(6);
      this.flags = d.readUInt16BE(10);
      if (!Number.isSafeInteger(this.size)) {
        throw new NbdError('NBD_ERR_EXPORT_INFO', 'export size beyond 2^53');
      }
    } else if (type === NBD_INFO_BLOCK_SIZE) {
      if (d.length !== 14) {
        throw new NbdError('NBD_ERR_EXPORT_INFO', 'NBD_INFO_BLOCK_SIZE must be 14 bytes');
      }
      const minimum = d.readUInt32BE(2);
      const preferred = d.readUInt32BE(6);
      const maximum = d.readUInt32BE(10);
      // the spec: the minimum a power of 2 up to 64 KiB, the maximum a multiple of it (or 2^32-1)
      const pow2 = minimum >= 1 && minimum <= 0x1_0000 && (minimum & (minimum - 1)) === 0;
      const maxOk = maximum === 0xffff_ffff || maximum % minimum === 0;
      if (!pow2 || !maxOk || preferred < minimum || maximum < minimum) {
        throw new NbdError('NBD_ERR_EXPORT_INFO', 'inconsistent NBD_INFO_BLOCK_SIZE');
      }
      this.blockSize = { minimum, preferred, maximum };
    }
  }

  private onAck(option: number): void {
    if (option === NBD_OPT_STRUCTURED_REPLY) {
      this.structured = true;
    } else if (option === NBD_OPT_SET_META_CONTEXT) {
      const missing = this.opts.metaContexts.filter((c) => !this.granted.has(c));
      if (missing.length > 0) {
        throw new NbdError('NBD_ERR_META_CONTEXT_MISSING', `not granted: ${missing.join(', ')}`);
      }
    } else if (option === NBD_OPT_GO) {
      if (this.size === undefined) {
        throw new NbdError(
          'NBD_ERR_EXPORT_INFO',
          'NBD_OPT_GO acknowledged without NBD_INFO_EXPORT',
        );
      }
      this.finished = true;
    }
  }
}
