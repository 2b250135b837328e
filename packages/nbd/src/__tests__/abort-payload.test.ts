import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, describe, it } from 'node:test';

import { NbdClient, isNbdError } from '../index.js';
import * as P from '../protocol.js';

import type { Fake, FakeRequest } from './fake-server.js';
import { chunkHeader, optReply, rejection, settleWithin, startFake } from './fake-server.js';
import { tempDir } from './servers.js';

const tmp = tempDir();
after(() => tmp.cleanup());

const SIZE = 256 * 1024;
const HALF = SIZE / 2;

type Mode = 'structured' | 'simple';

/** The bytes before a read's payload: a data chunk header and offset, or a simple reply. */
function replyHead(mode: Mode, req: FakeRequest): Buffer {
  if (mode === 'simple') {
    const b = Buffer.alloc(16);
    b.writeUInt32BE(P.NBD_SIMPLE_REPLY_MAGIC, 0);
    req.cookie.copy(b, 8);
    return b;
  }
  const off = Buffer.alloc(8);
  off.writeBigUInt64BE(BigInt(req.offset));
  const flags = P.NBD_REPLY_FLAG_DONE;
  return Buffer.concat([
    chunkHeader(req.cookie, P.NBD_REPLY_TYPE_OFFSET_DATA, flags, 8 + req.length),
    off,
  ]);
}

interface HalfFake {
  readonly fake: Fake;
  /** Sends the held second half of the first read's payload, as 0xAA. */
  readonly sendRest: () => void;
}

/**
 * A fake that answers the first read with its reply header and the first half of its payload
 * (0x11), then holds the rest until sendRest(); later reads get their whole payload (0x5a).
 */
async function halfFake(mode: Mode): Promise<HalfFake> {
  let rest: (() => void) | undefined;
  const fake = await startFake(tmp.dir, {
    optionReply: (option, sock) => {
      if (mode === 'simple' && option === P.NBD_OPT_STRUCTURED_REPLY) {
        sock.write(optReply(option, P.NBD_REP_ERR_UNSUP));
        return true;
      }
      return false;
    },
    onRequest: (req, sock) => {
      if (req.type !== P.NBD_CMD_READ) {
        return;
      }
      if (rest) {
        sock.write(Buffer.concat([replyHead(mode, req), Buffer.alloc(req.length, 0x5a)]));
        return;
      }
      sock.write(Buffer.concat([replyHead(mode, req), Buffer.alloc(req.length / 2, 0x11)]));
      rest = () => sock.write(Buffer.alloc(req.length / 2, 0xaa));
    },
  });
  return { fake, sendRest: () => rest?.() };
}

/** Resolves once `cond` holds (polled), failing the test after 2 s. */
async function until(cond: () => boolean, what: string): Promise<void> {
  for (const end = Date.now() + 2_000; !cond(); await sleep(5)) {
    assert.ok(Date.now() < end, `timed out waiting for ${what}`);
  }
}

/** Starts a 256 KiB read, waits until the first half of its payload is in `into`, aborts it. */
async function abortMidPayload(
  client: NbdClient,
): Promise<{ into: Buffer; reading: Promise<unknown> }> {
  const into = Buffer.alloc(SIZE);
  const ac = new AbortController();
  const reading = client.read(0, SIZE, { into, signal: ac.signal });
  // the socket's next read now targets into[HALF..] directly
  await until(() => into[HALF - 1] === 0x11, 'the first half of the payload');
  ac.abort();
  return { into, reading };
}

describe('nbd client: abort of a read whose payload is on the wire', () => {
  for (const mode of ['structured', 'simple'] as const) {
    it(`${mode} reply: nothing lands in the buffer after the read settles; the connection stays usable`, async () => {
      const { fake, sendRest } = await halfFake(mode);
      try {
        const client = await NbdClient.connect({ socket: fake.socket, timeoutMs: 5_000 });
        const { into, reading } = await abortMidPayload(client);
        // the rest goes out 100 ms after the abort, whether or not the read has settled by then
        const restSent = sleep(100).then(sendRest);
        const e = rejection(await settleWithin(reading, 2_000), 'the aborted read');
        assert.ok(isNbdError(e, 'NBD_ERR_ABORTED'), String(e));
        // the caller hands the buffer on at once (here: zeroes it)
        into.fill(0);
        await restSent;
        await sleep(100);
        assert.ok(
          into.every((b) => b === 0),
          'no byte of the aborted reply landed after settling',
        );
        const again = await client.read(0, 4096);
        assert.ok(
          again.every((b) => b === 0x5a),
          'the next read on the same connection',
        );
        await client.close();
      } finally {
        await fake.close();
      }
    });
  }

  it('a server that stalls mid-payload: the read settles when the connection times out, then nothing lands', async () => {
    const { fake, sendRest } = await halfFake('structured');
    try {
      const client = await NbdClient.connect({ socket: fake.socket, timeoutMs: 300 });
      const { into, reading } = await abortMidPayload(client);
      const e = rejection(await settleWithin(reading, 2_000), 'the aborted read');
      assert.ok(isNbdError(e, 'NBD_ERR_ABORTED'), String(e));
      into.fill(0);
      sendRest();
      await sleep(100);
      assert.ok(
        into.every((b) => b === 0),
        'no byte of the aborted reply landed after settling',
      );
      // the timeout closed the connection: later calls fail fast, close() resolves
      await assert.rejects(client.read(0, 4096), { name: 'NbdError' });
      await client.close();
      await fake.clientGone;
    } finally {
      await fake.close();
    }
  });
});
