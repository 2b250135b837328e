import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { after, describe, it } from 'node:test';
import { NbdClient } from '../index.js';
import type { NbdErrorCode } from '../index.js';
import * as P from '../protocol.js';
import type { FakeRequest, FakeScript } from './fake-server.js';
import { chunkHeader, greeting, optReply, startFake } from './fake-server.js';
import { tempDir } from './servers.js';

const tmp = tempDir();
after(() => tmp.cleanup());

function simpleReply(req: FakeRequest, errno = 0): Buffer {
  const b = Buffer.alloc(16);
  b.writeUInt32BE(P.NBD_SIMPLE_REPLY_MAGIC, 0);
  b.writeUInt32BE(errno, 4);
  req.cookie.copy(b, 8);
  return b;
}

function dataChunk(
  req: FakeRequest,
  offset: number,
  data: Buffer,
  flags = P.NBD_REPLY_FLAG_DONE,
): Buffer {
  const off = Buffer.alloc(8);
  off.writeBigUInt64BE(BigInt(offset));
  const h = chunkHeader(req.cookie, P.NBD_REPLY_TYPE_OFFSET_DATA, flags, 8 + data.length);
  return Buffer.concat([h, off, data]);
}

/** Connects to a fake running `script`, reads, expects `code`, and checks the connection closed. */
async function expectFailure(
  script: FakeScript,
  code: NbdErrorCode,
  during: 'connect' | 'read',
  // long enough that a starved test process never mistakes a reply it has not read yet for a stall
  timeoutMs = 5_000,
): Promise<void> {
  const fake = await startFake(tmp.dir, script);
  try {
    const connecting = NbdClient.connect({
      socket: fake.socket,
      metaContexts: ['base:allocation'],
      timeoutMs,
    });
    if (during === 'connect') {
      await assert.rejects(connecting, { name: 'NbdError', code });
    } else {
      const client = await connecting;
      await assert.rejects(client.read(0, 4096), { name: 'NbdError', code });
      // The connection is dead: later commands fail fast instead of hanging.
      await assert.rejects(client.read(0, 4096), { name: 'NbdError' });
      await client.close();
    }
    await fake.clientGone;
  } finally {
    await fake.close();
  }
}

const reply = (f: (req: FakeRequest, sock: Socket) => void): FakeScript => ({ onRequest: f });

describe('malicious fake server', () => {
  it('bad greeting magic gives NBD_ERR_HANDSHAKE_MAGIC', async () => {
    const g = greeting();
    g.write('NOTNBD!!', 0);
    await expectFailure({ greeting: g }, 'NBD_ERR_HANDSHAKE_MAGIC', 'connect');
  });

  it('a server without fixed newstyle gives NBD_ERR_HANDSHAKE_FLAGS', async () => {
    const g = greeting();
    g.writeUInt16BE(0, 16);
    await expectFailure({ greeting: g }, 'NBD_ERR_HANDSHAKE_FLAGS', 'connect');
  });

  it('an absurd option reply length gives NBD_ERR_OPT_REPLY_LENGTH without allocating it', async () => {
    const script: FakeScript = {
      optionReply: (option, sock) => {
        const b = optReply(option, P.NBD_REP_ACK);
        b.writeUInt32BE(0xffffffff, 16);
        sock.write(b);
        return true;
      },
    };
    await expectFailure(script, 'NBD_ERR_OPT_REPLY_LENGTH', 'connect');
  });

  it('an option reply for another option gives NBD_ERR_OPT_REPLY_MISMATCH', async () => {
    const script: FakeScript = {
      optionReply: (_option, sock) => {
        sock.write(optReply(P.NBD_OPT_LIST, P.NBD_REP_ACK));
        return true;
      },
    };
    await expectFailure(script, 'NBD_ERR_OPT_REPLY_MISMATCH', 'connect');
  });

  it('a bad reply magic gives NBD_ERR_REPLY_MAGIC', async () => {
    await expectFailure(
      reply((req, sock) => sock.write(Buffer.alloc(20, 0x41))),
      'NBD_ERR_REPLY_MAGIC',
      'read',
    );
  });

  it('an unknown cookie gives NBD_ERR_REPLY_COOKIE', async () => {
    await expectFailure(
      reply((req, sock) => {
        const other = Buffer.from(req.cookie);
        other.writeUInt32BE(0xdead, 4);
        sock.write(simpleReply({ ...req, cookie: other }));
      }),
      'NBD_ERR_REPLY_COOKIE',
      'read',
    );
  });

  it('a data chunk longer than asked gives NBD_ERR_REPLY_TOO_LONG', async () => {
    await expectFailure(
      reply((req, sock) => sock.write(dataChunk(req, 0, Buffer.alloc(req.length + 512)))),
      'NBD_ERR_REPLY_TOO_LONG',
      'read',
    );
  });

  it('data outside the requested range gives NBD_ERR_REPLY_RANGE', async () => {
    await expectFailure(
      reply((req, sock) => sock.write(dataChunk(req, 8192, Buffer.alloc(req.length)))),
      'NBD_ERR_REPLY_RANGE',
      'read',
    );
  });

  it('overlapping data chunks give NBD_ERR_REPLY_RANGE', async () => {
    await expectFailure(
      reply((req, sock) => {
        sock.write(dataChunk(req, 0, Buffer.alloc(req.length), 0));
        sock.write(dataChunk(req, 0, Buffer.alloc(req.length)));
      }),
      'NBD_ERR_REPLY_RANGE',
      'read',
    );
  });

  it('DONE before all data gives NBD_ERR_REPLY_INCOMPLETE', async () => {
    await expectFailure(
      reply((req, sock) => sock.write(dataChunk(req, 0, Buffer.alloc(req.length / 2)))),
      'NBD_ERR_REPLY_INCOMPLETE',
      'read',
    );
  });

  it('an absurd block status length gives NBD_ERR_REPLY_LENGTH', async () => {
    const fake = await startFake(tmp.dir, {
      onRequest: (req, sock) => {
        sock.write(chunkHeader(req.cookie, P.NBD_REPLY_TYPE_BLOCK_STATUS, 1, 0xfffffff4));
      },
    });
    try {
      const client = await NbdClient.connect({
        socket: fake.socket,
        metaContexts: ['base:allocation'],
      });
      await assert.rejects(client.blockStatus(0, 65536), { code: 'NBD_ERR_REPLY_LENGTH' });
      await client.close();
      await fake.clientGone;
    } finally {
      await fake.close();
    }
  });

  it('a frame truncated by a close gives NBD_ERR_TRUNCATED', async () => {
    await expectFailure(
      reply((req, sock) => sock.end(dataChunk(req, 0, Buffer.alloc(req.length)).subarray(0, 100))),
      'NBD_ERR_TRUNCATED',
      'read',
    );
  });

  it('a simple reply to a read where chunks were negotiated is refused, its bytes never data', async () => {
    // the spec: with structured replies the server "MUST NOT use a simple reply for NBD_CMD_READ";
    // taken as one, its next bytes (here more than asked) would be read as the data
    await expectFailure(
      reply((req, sock) =>
        sock.write(Buffer.concat([simpleReply(req), Buffer.alloc(req.length + 16, 7)])),
      ),
      'NBD_ERR_REPLY_TYPE',
      'read',
    );
  });

  it('a stalled server gives NBD_ERR_TIMEOUT', async () => {
    await expectFailure(
      reply(() => undefined),
      'NBD_ERR_TIMEOUT',
      'read',
      300,
    );
  });

  it('a server error maps to NBD_ERR_SERVER with the errno name', async () => {
    const fake = await startFake(tmp.dir, {
      onRequest: (req, sock) => sock.write(simpleReply(req, P.NBD_ERRNO.NBD_ENOSPC)),
    });
    try {
      const client = await NbdClient.connect({ socket: fake.socket });
      await assert.rejects(client.read(0, 512), {
        code: 'NBD_ERR_SERVER',
        errnoName: 'NBD_ENOSPC',
      });
      await client.close();
    } finally {
      await fake.close();
    }
  });

  it('an aborted read rejects with NBD_ERR_ABORTED', async () => {
    const fake = await startFake(tmp.dir, { onRequest: () => undefined });
    try {
      const client = await NbdClient.connect({ socket: fake.socket, timeoutMs: 5000 });
      const ac = new AbortController();
      const p = client.read(0, 4096, { signal: ac.signal });
      ac.abort();
      await assert.rejects(p, { code: 'NBD_ERR_ABORTED' });
      await fake.close();
      await client.close().catch(() => undefined);
    } finally {
      await fake.close();
    }
  });
  it('a read whose part failed settles only after its other parts: nothing lands later', async () => {
    let sent = false;
    const fake = await startFake(tmp.dir, {
      onRequest: (req, sock) => {
        if (req.type !== P.NBD_CMD_READ) {
          return;
        }
        if (req.offset === 0) {
          sock.write(simpleReply(req, P.NBD_ERRNO.NBD_EIO));
          return;
        }
        setTimeout(() => {
          sock.write(dataChunk(req, req.offset, Buffer.alloc(req.length, 0x5a)));
          sent = true;
        }, 150);
      },
    });
    try {
      const client = await NbdClient.connect({
        socket: fake.socket,
        requestSize: 4096,
        timeoutMs: 5000,
      });
      const into = Buffer.alloc(8192);
      await assert.rejects(client.read(0, 8192, { into }), {
        code: 'NBD_ERR_SERVER',
        errnoName: 'NBD_EIO',
      });
      // the caller may hand `into` on now: the slow part's bytes arrived before, never after
      assert.equal(sent, true, 'the failure waited for the other part');
      assert.ok(into.subarray(4096).every((b) => b === 0x5a));
      await client.close();
    } finally {
      await fake.close();
    }
  });
});
