import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';

import { NbdClient, isNbdError } from '../index.js';
import * as P from '../protocol.js';

import { dataReply, rejection, settleWithin, startFake } from './fake-server.js';
import { tempDir } from './servers.js';

const tmp = tempDir();
after(() => tmp.cleanup());

/** 16 parts of 4 KiB over 2 slots: 14 of them queue for a slot. */
const QUEUED = { maxInFlight: 2, requestSize: 4096, timeoutMs: 10_000 } as const;
const READ_LENGTH = 16 * 4096;

describe('nbd client: callers queued for a slot when the connection ends', () => {
  it('a read with parts queued beyond maxInFlight rejects when the server closes the socket', async () => {
    let reads = 0;
    const fake = await startFake(tmp.dir, {
      onRequest: (req, sock) => {
        // qemu dying mid-backup: the socket closes with requests in flight and more queued
        if (req.type === P.NBD_CMD_READ && ++reads === 2) {
          sock.destroy();
        }
      },
    });
    try {
      const client = await NbdClient.connect({ socket: fake.socket, ...QUEUED });
      const r = await settleWithin(client.read(0, READ_LENGTH), 1_000);
      const e = rejection(r, 'the read (1 s after the connection failed)');
      assert.ok(isNbdError(e, 'NBD_ERR_TRUNCATED'), String(e));
      // later calls fail at once too
      await assert.rejects(client.read(0, 4096), { name: 'NbdError' });
      await client.close();
    } finally {
      await fake.close();
    }
  });

  it('close() fails every queued caller, more of them than requests in flight', async () => {
    let inFlight: () => void = () => undefined;
    const twoSent = new Promise<void>((r) => (inFlight = r));
    let reads = 0;
    const fake = await startFake(tmp.dir, {
      onRequest: (req, sock) => {
        if (req.type === P.NBD_CMD_READ) {
          setTimeout(() => sock.write(dataReply(req)), 100);
          if (++reads === 2) {
            inFlight();
          }
        }
      },
    });
    try {
      const client = await NbdClient.connect({ socket: fake.socket, ...QUEUED });
      const reading = client.read(0, READ_LENGTH);
      const second = client.read(0, READ_LENGTH);
      await twoSent;
      const closing = client.close();
      const [r1, r2] = await Promise.all([
        settleWithin(reading, 1_000),
        settleWithin(second, 1_000),
      ]);
      for (const r of [r1, r2]) {
        const e = rejection(r, 'a read (1 s after close())');
        assert.ok(isNbdError(e, 'NBD_ERR_CLOSED'), String(e));
      }
      assert.notEqual(await settleWithin(closing, 1_000), 'timeout', 'close() resolved');
      assert.equal(reads, 2, 'no queued request went out after close()');
    } finally {
      await fake.close();
    }
  });
});

describe('nbd connection: close()', () => {
  it('cuts off a server that ignores NBD_CMD_DISC and keeps the socket open', async () => {
    const fake = await startFake(tmp.dir, { keepOpen: true });
    try {
      const client = await NbdClient.connect({ socket: fake.socket, timeoutMs: 300 });
      // close() resolves only once the client's socket has closed
      const r = await settleWithin(client.close(), 1_000);
      assert.deepEqual(r, { status: 'fulfilled', value: undefined }, 'close() resolved within 1 s');
    } finally {
      await fake.close();
    }
  });
});
