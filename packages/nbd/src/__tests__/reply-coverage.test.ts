import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';

import { NbdClient } from '../index.js';
import * as P from '../protocol.js';
import { ReplyCoverage } from '../reply-coverage.js';

import { chunkHeader, startFake, type FakeRequest, type FakeScript } from './fake-server.js';
import { tempDir } from './servers.js';

const tmp = tempDir();
after(() => tmp.cleanup());

/** The context id the fake server grants `base:allocation`. */
const BASE_ALLOCATION_ID = 7;

function offsetChunk(req: FakeRequest, type: number, offset: number, rest: Buffer, flags: number) {
  const off = Buffer.alloc(8);
  off.writeBigUInt64BE(BigInt(offset));
  return Buffer.concat([chunkHeader(req.cookie, type, flags, 8 + rest.length), off, rest]);
}

function hole(req: FakeRequest, offset: number, length: number, flags: number): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(length);
  return offsetChunk(req, P.NBD_REPLY_TYPE_OFFSET_HOLE, offset, len, flags);
}

function status(req: FakeRequest, contextId: number, pairs: number[], flags: number): Buffer {
  const body = Buffer.alloc(4 + 4 * pairs.length);
  body.writeUInt32BE(contextId, 0);
  pairs.forEach((v, i) => body.writeUInt32BE(v, 4 + 4 * i));
  return Buffer.concat([
    chunkHeader(req.cookie, P.NBD_REPLY_TYPE_BLOCK_STATUS, flags, body.length),
    body,
  ]);
}

/** Runs `f` against a fake server answering every request with `script`. */
async function withFake(
  onRequest: NonNullable<FakeScript['onRequest']>,
  f: (c: NbdClient) => Promise<void>,
): Promise<void> {
  const fake = await startFake(tmp.dir, { onRequest });
  try {
    const client = await NbdClient.connect({
      socket: fake.socket,
      metaContexts: ['base:allocation'],
      timeoutMs: 5000,
    });
    try {
      await f(client);
    } finally {
      await client.close();
    }
  } finally {
    await fake.close();
  }
}

describe('chunks of one reply', () => {
  it('a hole over data already sent fails the read, though the byte count adds up', async () => {
    // 2 KiB of data then a hole over the same 2 KiB, DONE: 4096 bytes "received", the second
    // half of the buffer never written; that half held another read's bytes, stored as this one
    await withFake(
      (req, sock) => {
        sock.write(offsetChunk(req, P.NBD_REPLY_TYPE_OFFSET_DATA, 0, Buffer.alloc(2048, 1), 0));
        sock.write(hole(req, 0, 2048, P.NBD_REPLY_FLAG_DONE));
      },
      async (client) => {
        const into = Buffer.alloc(4096, 0x55);
        await assert.rejects(client.read(0, 4096, { into }), { code: 'NBD_ERR_REPLY_RANGE' });
      },
    );
  });

  it('a second block status chunk for one context, or one for a context never granted, fails', async () => {
    const twice = (req: FakeRequest, sock: { write(b: Buffer): unknown }) => {
      sock.write(status(req, BASE_ALLOCATION_ID, [4096, 0], 0));
      sock.write(status(req, BASE_ALLOCATION_ID, [4096, 3], P.NBD_REPLY_FLAG_DONE));
    };
    await withFake(twice, async (client) => {
      await assert.rejects(client.blockStatus(0, 8192), { code: 'NBD_ERR_REPLY_CONTEXT' });
    });
    await withFake(
      (req, sock) => sock.write(status(req, 99, [8192, 0], P.NBD_REPLY_FLAG_DONE)),
      async (client) => {
        await assert.rejects(client.blockStatus(0, 8192), { code: 'NBD_ERR_REPLY_CONTEXT' });
      },
    );
  });

  it('an error chunk naming an offset outside the request fails with NBD_ERR_REPLY_RANGE', async () => {
    await withFake(
      (req, sock) => {
        const msg = Buffer.from('bad sector');
        const body = Buffer.alloc(6 + msg.length + 8);
        body.writeUInt32BE(P.NBD_ERRNO.NBD_EIO, 0);
        body.writeUInt16BE(msg.length, 4);
        msg.copy(body, 6);
        body.writeBigUInt64BE(0n, 6 + msg.length);
        const type = P.NBD_REPLY_TYPE_ERROR_OFFSET;
        sock.write(Buffer.concat([chunkHeader(req.cookie, type, 1, body.length), body]));
      },
      async (client) => {
        await assert.rejects(client.read(4096, 4096), { code: 'NBD_ERR_REPLY_RANGE' });
      },
    );
  });

  it('ranges in any order merge; only an overlap is refused', () => {
    const c = new ReplyCoverage();
    c.claim(1, 8192, 4096);
    c.claim(1, 0, 4096);
    c.claim(1, 4096, 4096);
    assert.throws(() => c.claim(1, 12287, 2), { code: 'NBD_ERR_REPLY_RANGE' });
    assert.throws(() => c.claim(1, 100, 1), { code: 'NBD_ERR_REPLY_RANGE' });
    c.claim(1, 12288, 1);
    c.claim(2, 0, 4096); // another reply
    c.end(1);
    c.claim(1, 0, 4096); // a new reply under a reused cookie
  });
});
