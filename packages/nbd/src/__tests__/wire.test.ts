import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ReplyDecoder } from '../decode.js';
import type { PendingInfo, ReplyMessage } from '../decode.js';
import { encodeGo, encodeMetaContext, encodeRequest } from '../encode.js';
import { Handshake } from '../handshake.js';
import { interpret, mergeExtents } from '../extents.js';
import { parseNbdUri } from '../uri.js';
import * as P from '../protocol.js';
import { chunkHeader, greeting, optReply } from './fake-server.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

describe('encode', () => {
  it('builds a 28-byte request header', () => {
    const b = encodeRequest({
      flags: 1,
      type: P.NBD_CMD_READ,
      cookie: 7,
      offset: 2 ** 33 + 5,
      length: 4096,
    });
    assert.equal(
      hex(b),
      '25609513' + '0001' + '0000' + '0000000000000007' + '0000000200000005' + '00001000',
    );
  });

  it('builds NBD_OPT_GO with NBD_INFO_BLOCK_SIZE', () => {
    const b = encodeGo('ex', [P.NBD_INFO_BLOCK_SIZE]);
    assert.equal(
      hex(b),
      '49484156454f5054' + '00000007' + '0000000a' + '00000002' + '6578' + '0001' + '0003',
    );
  });

  it('builds NBD_OPT_SET_META_CONTEXT with queries', () => {
    const b = encodeMetaContext(P.NBD_OPT_SET_META_CONTEXT, '', ['a', 'bc']);
    assert.equal(
      hex(b.subarray(8)),
      '0000000a' + '00000013' + '00000000' + '00000002' + '0000000161' + '000000026263',
    );
  });
});

describe('ReplyDecoder', () => {
  const pending = new Map<number, PendingInfo>([
    [1, { kind: 'read', offset: 4096, length: 8 }],
    [2, { kind: 'status', offset: 0, length: 65536 }],
  ]);
  const cookie = (n: number): Buffer =>
    Buffer.from(`00000000${n.toString(16).padStart(8, '0')}`, 'hex');

  function feedBytewise(bytes: Buffer): ReplyMessage[] {
    const d = new ReplyDecoder((c) => pending.get(c));
    const out: ReplyMessage[] = [];
    for (const byte of bytes) {
      for (const m of d.push(Buffer.from([byte]))) {
        out.push(m.type === 'data' ? { ...m, bytes: Buffer.from(m.bytes) } : m);
      }
    }
    assert.equal(d.idle, true);
    return out;
  }

  it('decodes data, hole and block status chunks fed one byte at a time', () => {
    const off = Buffer.alloc(8);
    off.writeUInt32BE(4096, 4);
    const hole = Buffer.alloc(12);
    hole.writeUInt32BE(4100, 4);
    hole.writeUInt32BE(4, 8);
    const status = Buffer.from(
      '00000007' + '00008000' + '00000003' + '00008000' + '00000000',
      'hex',
    );
    const wire = Buffer.concat([
      chunkHeader(cookie(1), P.NBD_REPLY_TYPE_OFFSET_DATA, 0, 12),
      off,
      Buffer.from('abcd'),
      chunkHeader(cookie(1), P.NBD_REPLY_TYPE_OFFSET_HOLE, P.NBD_REPLY_FLAG_DONE, 12),
      hole,
      chunkHeader(cookie(2), P.NBD_REPLY_TYPE_BLOCK_STATUS, P.NBD_REPLY_FLAG_DONE, status.length),
      status,
    ]);
    const msgs = feedBytewise(wire);
    const data = msgs.filter((m) => m.type === 'data');
    assert.equal(
      Buffer.concat(data.map((m) => (m.type === 'data' ? m.bytes : Buffer.alloc(0)))).toString(),
      'abcd',
    );
    assert.deepEqual(
      msgs.filter((m) => m.type !== 'data'),
      [
        { type: 'hole', cookie: 1, offset: 4100, length: 4 },
        { type: 'done', cookie: 1, errno: 0 },
        { type: 'status', cookie: 2, contextId: 7, pairs: new Uint32Array([0x8000, 3, 0x8000, 0]) },
        { type: 'done', cookie: 2, errno: 0 },
      ],
    );
  });

  it('decodes a simple read reply with its payload and an error chunk', () => {
    const simple = Buffer.alloc(16);
    simple.writeUInt32BE(P.NBD_SIMPLE_REPLY_MAGIC, 0);
    cookie(1).copy(simple, 8);
    const err = Buffer.concat([Buffer.from('00000005' + '0002', 'hex'), Buffer.from('no')]);
    const wire = Buffer.concat([
      simple,
      Buffer.from('12345678'),
      chunkHeader(cookie(2), P.NBD_REPLY_TYPE_ERROR, P.NBD_REPLY_FLAG_DONE, err.length),
      err,
    ]);
    const msgs = feedBytewise(wire);
    assert.deepEqual(msgs.slice(-3), [
      { type: 'done', cookie: 1, errno: 0 },
      { type: 'error', cookie: 2, errno: 5, message: 'no', offset: undefined },
      { type: 'done', cookie: 2, errno: 0 },
    ]);
  });

  it('rejects a chunk that follows the DONE of its reply in the same read', () => {
    const d = new ReplyDecoder((c) => pending.get(c));
    const off = Buffer.alloc(8);
    off.writeUInt32BE(4096, 4);
    const wire = Buffer.concat([
      chunkHeader(cookie(1), P.NBD_REPLY_TYPE_OFFSET_DATA, P.NBD_REPLY_FLAG_DONE, 16),
      off,
      Buffer.from('12345678'),
      // the reply is over; a server sends more for it in the same write
      chunkHeader(cookie(1), P.NBD_REPLY_TYPE_OFFSET_DATA, P.NBD_REPLY_FLAG_DONE, 16),
      off,
      Buffer.from('87654321'),
    ]);
    assert.throws(() => d.push(wire), { code: 'NBD_ERR_REPLY_COOKIE' });
  });

  it('rejects a block status chunk for a read, and stays failed', () => {
    const d = new ReplyDecoder((c) => pending.get(c));
    const bad = chunkHeader(cookie(1), P.NBD_REPLY_TYPE_BLOCK_STATUS, 1, 12);
    assert.throws(() => d.push(bad), { code: 'NBD_ERR_REPLY_TYPE' });
    assert.throws(() => d.push(Buffer.alloc(1)), { code: 'NBD_ERR_REPLY_TYPE' });
  });

  it('exposes the payload target for direct reads', () => {
    const d = new ReplyDecoder((c) => pending.get(c));
    const off = Buffer.alloc(8);
    off.writeUInt32BE(4096, 4);
    d.push(
      Buffer.concat([
        chunkHeader(cookie(1), P.NBD_REPLY_TYPE_OFFSET_DATA, 1, 16),
        off,
        Buffer.from('ab'),
      ]),
    );
    assert.deepEqual(d.payloadTarget(), { cookie: 1, offset: 4098, length: 6 });
  });

  it('says how many header bytes to read so that a payload starts a read of its own', () => {
    const d = new ReplyDecoder((c) => pending.get(c));
    assert.equal(d.fixedLeft(true), 28, 'chunk header and offset');
    assert.equal(d.fixedLeft(false), 16, 'simple reply header');
    const off = Buffer.alloc(8);
    off.writeUInt32BE(4096, 4);
    const reply = Buffer.concat([chunkHeader(cookie(1), P.NBD_REPLY_TYPE_OFFSET_DATA, 1, 16), off]);
    d.push(reply.subarray(0, 2));
    assert.equal(d.fixedLeft(true), 26, 'inside the magic');
    d.push(reply.subarray(2, 10));
    assert.equal(d.fixedLeft(true), 18, 'inside the header');
    d.push(reply.subarray(10, 24));
    assert.equal(d.fixedLeft(true), 4, 'inside the offset');
    d.push(reply.subarray(24));
    assert.equal(d.fixedLeft(true), 0, 'the payload is next');
    assert.deepEqual(d.payloadTarget(), { cookie: 1, offset: 4096, length: 8 });
  });
});

describe('Handshake', () => {
  it('negotiates structured replies, a meta context and GO', () => {
    const h = new Handshake({ exportName: 'e', metaContexts: ['base:allocation'] });
    const s1 = h.push(greeting());
    assert.equal(hex(s1.send[0] as Buffer), '00000003');
    assert.equal((s1.send[1] as Buffer).readUInt32BE(8), P.NBD_OPT_STRUCTURED_REPLY);
    const s2 = h.push(optReply(P.NBD_OPT_STRUCTURED_REPLY, P.NBD_REP_ACK));
    assert.equal((s2.send[0] as Buffer).readUInt32BE(8), P.NBD_OPT_SET_META_CONTEXT);
    const ctx = Buffer.concat([Buffer.from('00000003', 'hex'), Buffer.from('base:allocation')]);
    const s3 = h.push(
      Buffer.concat([
        optReply(P.NBD_OPT_SET_META_CONTEXT, P.NBD_REP_META_CONTEXT, ctx),
        optReply(P.NBD_OPT_SET_META_CONTEXT, P.NBD_REP_ACK),
      ]),
    );
    assert.equal((s3.send[0] as Buffer).readUInt32BE(8), P.NBD_OPT_GO);
    const exp = Buffer.from('0000' + '0000000000100000' + '0003', 'hex');
    const bs = Buffer.from('0003' + '00000001' + '00001000' + '02000000', 'hex');
    const s4 = h.push(
      Buffer.concat([
        optReply(P.NBD_OPT_GO, P.NBD_REP_INFO, exp),
        optReply(P.NBD_OPT_GO, P.NBD_REP_INFO, bs),
        optReply(P.NBD_OPT_GO, P.NBD_REP_ACK),
      ]),
    );
    assert.equal(s4.done, true);
    const r = h.result();
    assert.equal(r.size, 1024 * 1024);
    assert.equal(r.transmissionFlags, 3);
    assert.deepEqual(r.blockSize, { minimum: 1, preferred: 4096, maximum: 32 * 1024 * 1024 });
    assert.deepEqual([...r.metaContexts], [['base:allocation', 3]]);
  });

  it('maps NBD_REP_ERR_UNKNOWN on GO to NBD_ERR_EXPORT_UNKNOWN', () => {
    const h = new Handshake({ exportName: 'x', metaContexts: [] });
    h.push(greeting());
    h.push(optReply(P.NBD_OPT_STRUCTURED_REPLY, P.NBD_REP_ACK));
    assert.throws(() => h.push(optReply(P.NBD_OPT_GO, P.NBD_REP_ERR_UNKNOWN)), {
      code: 'NBD_ERR_EXPORT_UNKNOWN',
    });
  });

  it('rejects oldstyle servers', () => {
    const g = greeting();
    g.writeBigUInt64BE(P.NBD_OLDSTYLE_MAGIC, 8);
    assert.throws(() => new Handshake({ exportName: '', metaContexts: [] }).push(g), {
      code: 'NBD_ERR_HANDSHAKE_MAGIC',
    });
  });
});

describe('mergeExtents and URIs', () => {
  it('intersects two contexts and coalesces equal neighbours', () => {
    const alloc = [
      { offset: 0, length: 10, flags: 0 },
      { offset: 10, length: 10, flags: 3 },
    ];
    const dirty = [
      { offset: 0, length: 5, flags: 1 },
      { offset: 5, length: 15, flags: 0 },
    ];
    const m = mergeExtents(['base:allocation', 'qemu:dirty-bitmap:b'], [alloc, dirty], 0, 20);
    assert.deepEqual(
      m.map((e) => [e.offset, e.length, e.needed, e.zero]),
      [
        [0, 5, true, false],
        [5, 5, false, false],
        [10, 10, false, true],
      ],
    );
  });

  it('reads a hole the server does not say reads as zeros (NBD_STATE_HOLE alone)', () => {
    assert.equal(interpret(['base:allocation'], [P.NBD_STATE_HOLE]).needed, true);
    assert.equal(interpret(['base:allocation'], [P.NBD_STATE_HOLE]).allocated, false);
    const holeZero = P.NBD_STATE_HOLE | P.NBD_STATE_ZERO;
    assert.equal(interpret(['base:allocation'], [holeZero]).needed, false);
    assert.equal(interpret(['base:allocation'], [P.NBD_STATE_ZERO]).needed, false);
    assert.equal(
      interpret(['base:allocation', 'qemu:dirty-bitmap:b'], [P.NBD_STATE_HOLE, 0]).needed,
      false,
      'clean: nothing to read',
    );
  });

  it('parses nbd:// and nbd+unix:// URIs', () => {
    assert.deepEqual(parseNbdUri('nbd+unix:///disk%201?socket=/run/x.sock'), {
      endpoint: { socket: '/run/x.sock' },
      exportName: 'disk 1',
    });
    assert.deepEqual(parseNbdUri('nbd://[::1]:10810/e'), {
      endpoint: { host: '::1', port: 10810 },
      exportName: 'e',
    });
    assert.deepEqual(parseNbdUri('nbd://h/'), {
      endpoint: { host: 'h', port: 10809 },
      exportName: '',
    });
    assert.throws(() => parseNbdUri('nbds://h/'), { code: 'NBD_ERR_URI' });
  });
});
