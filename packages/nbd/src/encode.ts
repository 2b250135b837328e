/**
 * Pure builders of client-to-server messages. No I/O; every function returns
 * fresh bytes. 64-bit fields are JS numbers (exact up to 2^53) written as two
 * 32-bit halves, which avoids BigInt on the hot path.
 */
import { IHAVEOPT, NBD_OPT_GO, NBD_REQUEST_MAGIC, REQUEST_HEADER_SIZE } from './protocol.js';

const TWO_32 = 0x1_0000_0000;

/** Writes a non-negative safe integer as a big-endian u64 at `at`. */
export function writeU64(buf: Buffer, value: number, at: number): void {
  buf.writeUInt32BE(Math.floor(value / TWO_32), at);
  buf.writeUInt32BE(value % TWO_32, at + 4);
}

/** The 4-byte client flags sent after the server greeting (spec: Client flags). */
export function encodeClientFlags(flags: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(flags >>> 0, 0);
  return b;
}

/** An option request: IHAVEOPT, option, length, data (spec: Option haggling). */
export function encodeOption(option: number, data: Uint8Array = new Uint8Array(0)): Buffer {
  const b = Buffer.alloc(16 + data.length);
  b.writeBigUInt64BE(IHAVEOPT, 0);
  b.writeUInt32BE(option, 8);
  b.writeUInt32BE(data.length, 12);
  b.set(data, 16);
  return b;
}

/** Data of NBD_OPT_GO / NBD_OPT_INFO: export name and the info types requested. */
export function encodeGo(exportName: string, infos: readonly number[]): Buffer {
  const name = Buffer.from(exportName, 'utf8');
  const b = Buffer.alloc(4 + name.length + 2 + 2 * infos.length);
  b.writeUInt32BE(name.length, 0);
  name.copy(b, 4);
  let at = 4 + name.length;
  b.writeUInt16BE(infos.length, at);
  at += 2;
  for (const info of infos) {
    b.writeUInt16BE(info, at);
    at += 2;
  }
  return encodeOption(NBD_OPT_GO, b);
}

/** NBD_OPT_LIST_META_CONTEXT or NBD_OPT_SET_META_CONTEXT with its queries. */
export function encodeMetaContext(
  option: number,
  exportName: string,
  queries: readonly string[],
): Buffer {
  const name = Buffer.from(exportName, 'utf8');
  const qs = queries.map((q) => Buffer.from(q, 'utf8'));
  const size = 8 + name.length + qs.reduce((n, q) => n + 4 + q.length, 0);
  const b = Buffer.alloc(size);
  b.writeUInt32BE(name.length, 0);
  name.copy(b, 4);
  let at = 4 + name.length;
  b.writeUInt32BE(qs.length, at);
  at += 4;
  for (const q of qs) {
    b.writeUInt32BE(q.length, at);
    q.copy(b, at + 4);
    at += 4 + q.length;
  }
  return encodeOption(option, b);
}

/** Fields of one transmission request (spec: Request message). */
export interface RequestFields {
  /** Command flags (NBD_CMD_FLAG_*). */
  readonly flags: number;
  /** Command type (NBD_CMD_*). */
  readonly type: number;
  /** Cookie echoed by the server; a safe integer. */
  readonly cookie: number;
  /** Byte offset into the export. */
  readonly offset: number;
  /** Length in bytes (payload length for WRITE). */
  readonly length: number;
}

/** The 28-byte request header; a WRITE payload follows it on the wire. */
export function encodeRequest(r: RequestFields): Buffer {
  const b = Buffer.allocUnsafe(REQUEST_HEADER_SIZE);
  b.writeUInt32BE(NBD_REQUEST_MAGIC, 0);
  b.writeUInt16BE(r.flags, 4);
  b.writeUInt16BE(r.type, 6);
  writeU64(b, r.cookie, 8);
  writeU64(b, r.offset, 16);
  b.writeUInt32BE(r.length >>> 0, 24);
  return b;
}
