/**
 * A scripted malicious NBD server for tests: a real net.Server on a unix
 * socket that negotiates correctly (or not) and then answers each request
 * through a test-provided script.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { join } from 'node:path';
import * as P from '../protocol.js';

/** One request as the fake server parsed it. */
export interface FakeRequest {
  /** NBD_CMD_*. */
  readonly type: number;
  /** Cookie, as raw 8 bytes. */
  readonly cookie: Buffer;
  /** Offset. */
  readonly offset: number;
  /** Length. */
  readonly length: number;
}

/**
 * Script hooks: `greeting` replaces the server greeting; `optionReply` answers an option itself
 * (returning true) or leaves it to the default; `onRequest` answers requests; `keepOpen` keeps
 * the socket open after the client's FIN (a server that ignores NBD_CMD_DISC).
 */
export interface FakeScript {
  readonly greeting?: Buffer;
  readonly optionReply?: (option: number, sock: Socket) => boolean;
  readonly onRequest?: (req: FakeRequest, sock: Socket) => void;
  readonly keepOpen?: boolean;
}

/** Option reply bytes. */
export function optReply(option: number, type: number, data: Buffer = Buffer.alloc(0)): Buffer {
  const b = Buffer.alloc(20);
  b.writeBigUInt64BE(P.NBD_OPTION_REPLY_MAGIC, 0);
  b.writeUInt32BE(option, 8);
  b.writeUInt32BE(type >>> 0, 12);
  b.writeUInt32BE(data.length, 16);
  return Buffer.concat([b, data]);
}

/** Structured reply chunk header. */
export function chunkHeader(cookie: Buffer, type: number, flags: number, length: number): Buffer {
  const b = Buffer.alloc(20);
  b.writeUInt32BE(P.NBD_STRUCTURED_REPLY_MAGIC, 0);
  b.writeUInt16BE(flags, 4);
  b.writeUInt16BE(type, 6);
  cookie.copy(b, 8);
  b.writeUInt32BE(length >>> 0, 16);
  return b;
}

/** One structured OFFSET_DATA chunk, flagged DONE, answering all of `req` with bytes of 1. */
export function dataReply(req: FakeRequest): Buffer {
  const off = Buffer.alloc(8);
  off.writeBigUInt64BE(BigInt(req.offset));
  const h = chunkHeader(
    req.cookie,
    P.NBD_REPLY_TYPE_OFFSET_DATA,
    P.NBD_REPLY_FLAG_DONE,
    8 + req.length,
  );
  return Buffer.concat([h, off, Buffer.alloc(req.length, 1)]);
}

/** Default greeting: NBDMAGIC, IHAVEOPT, fixed newstyle + no zeroes. */
export function greeting(): Buffer {
  const b = Buffer.alloc(18);
  b.writeBigUInt64BE(P.NBDMAGIC, 0);
  b.writeBigUInt64BE(P.IHAVEOPT, 8);
  b.writeUInt16BE(P.NBD_FLAG_FIXED_NEWSTYLE | P.NBD_FLAG_NO_ZEROES, 16);
  return b;
}

/** Size of the fake export. */
export const FAKE_SIZE = 1024 * 1024;

/** NBD_REP_META_CONTEXT granting context `name` as `id` (reply to SET_META_CONTEXT). */
export function metaContextReply(id: number, name = 'base:allocation'): Buffer {
  const d = Buffer.alloc(4 + Buffer.byteLength(name));
  d.writeUInt32BE(id, 0);
  d.write(name, 4);
  return optReply(P.NBD_OPT_SET_META_CONTEXT, P.NBD_REP_META_CONTEXT, d);
}

/** NBD_REP_INFO with NBD_INFO_EXPORT (reply to GO); `flags` gets NBD_FLAG_HAS_FLAGS added. */
export function exportInfoReply(size = FAKE_SIZE, flags = P.NBD_FLAG_SEND_FLUSH): Buffer {
  const info = Buffer.alloc(12);
  info.writeUInt16BE(P.NBD_INFO_EXPORT, 0);
  info.writeUInt32BE(size, 6);
  info.writeUInt16BE(P.NBD_FLAG_HAS_FLAGS | flags, 10);
  return optReply(P.NBD_OPT_GO, P.NBD_REP_INFO, info);
}

function answerOption(option: number, sock: Socket): void {
  if (option === P.NBD_OPT_SET_META_CONTEXT) {
    sock.write(metaContextReply(7));
  } else if (option === P.NBD_OPT_GO) {
    sock.write(exportInfoReply());
  }
  sock.write(optReply(option, P.NBD_REP_ACK));
}

/** Parses client bytes: flags, options, then requests. */
function serve(sock: Socket, script: FakeScript): void {
  let buf = Buffer.alloc(0);
  let stage: 'flags' | 'options' | 'requests' = 'flags';
  sock.on('error', () => undefined);
  sock.write(script.greeting ?? greeting());
  sock.on('data', (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    for (;;) {
      if (stage === 'flags' && buf.length >= 4) {
        buf = buf.subarray(4);
        stage = 'options';
      } else if (
        stage === 'options' &&
        buf.length >= 16 &&
        buf.length >= 16 + buf.readUInt32BE(12)
      ) {
        const option = buf.readUInt32BE(8);
        buf = buf.subarray(16 + buf.readUInt32BE(12));
        if (!script.optionReply?.(option, sock)) {
          answerOption(option, sock);
        }
        stage = option === P.NBD_OPT_GO ? 'requests' : 'options';
      } else if (stage === 'requests' && buf.length >= 28) {
        const req: FakeRequest = {
          type: buf.readUInt16BE(6),
          cookie: Buffer.from(buf.subarray(8, 16)),
          offset: Number(buf.readBigUInt64BE(16)),
          length: buf.readUInt32BE(24),
        };
        buf = buf.subarray(28);
        if (req.type !== P.NBD_CMD_DISC) {
          script.onRequest?.(req, sock);
        }
      } else {
        return;
      }
    }
  });
}

/** A running fake server. */
export interface Fake {
  /** Socket path. */
  readonly socket: string;
  /** Resolves when the client's connection to the fake has closed. */
  readonly clientGone: Promise<void>;
  /** Stops listening. */
  close(): Promise<void>;
}

/** Starts a fake server at `dir/fake.sock` running `script` for one client. */
export async function startFake(dir: string, script: FakeScript): Promise<Fake> {
  const socket = join(dir, `fake-${Math.random().toString(36).slice(2, 8)}.sock`);
  let gone: () => void = () => undefined;
  const clientGone = new Promise<void>((r) => (gone = r));
  const socks = new Set<Socket>();
  const srv: Server = createServer({ allowHalfOpen: script.keepOpen ?? false }, (sock) => {
    socks.add(sock);
    sock.on('close', () => gone());
    serve(sock, script);
  });
  await new Promise<void>((r) => srv.listen(socket, r));
  return {
    socket,
    clientGone,
    close: () =>
      new Promise<void>((r) => {
        socks.forEach((s) => s.destroy());
        srv.close(() => r());
      }),
  };
}

/** How `p` settled within `ms`, or 'timeout' (a hang shows as a failed assertion, not a stuck run). */
export async function settleWithin<T>(
  p: Promise<T>,
  ms: number,
): Promise<PromiseSettledResult<T> | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), ms)));
  const outcome = p.then(
    (value): PromiseSettledResult<T> => ({ status: 'fulfilled', value }),
    (reason: unknown): PromiseSettledResult<T> => ({ status: 'rejected', reason }),
  );
  try {
    return await Promise.race([outcome, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** The reason `r` (from {@link settleWithin}) rejected with; fails the test if it did not. */
export function rejection(r: PromiseSettledResult<unknown> | 'timeout', what: string): unknown {
  if (r === 'timeout') {
    assert.fail(`${what} did not settle in time`);
  }
  if (r.status === 'fulfilled') {
    assert.fail(`${what} did not reject`);
  }
  return r.reason;
}
