import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { after, describe, it } from 'node:test';

import { NbdClient } from '../index.js';
import * as P from '../protocol.js';

import type { Fake, FakeRequest } from './fake-server.js';
import {
  FAKE_SIZE,
  chunkHeader,
  exportInfoReply,
  metaContextReply,
  optReply,
  startFake,
} from './fake-server.js';
import { tempDir } from './servers.js';

const tmp = tempDir();
after(() => tmp.cleanup());

const FLAGS = P.NBD_FLAG_SEND_FLUSH | P.NBD_FLAG_CAN_MULTI_CONN;

/** What the fake grants on its n-th connection (0 = the first). */
interface Grant {
  /** Granted contexts: name to id. */
  readonly contexts: readonly (readonly [string, number])[];
  readonly size?: number;
  readonly flags?: number;
}

/** Block status for one context: 64 KiB of data, then a hole to the end of the request. */
function statusChunk(req: FakeRequest, id: number, last: boolean): Buffer {
  const b = Buffer.alloc(4 + 16);
  b.writeUInt32BE(id, 0);
  b.writeUInt32BE(65536, 4);
  b.writeUInt32BE(0, 8);
  b.writeUInt32BE(req.length - 65536, 12);
  b.writeUInt32BE(P.NBD_STATE_HOLE | P.NBD_STATE_ZERO, 16);
  const flags = last ? P.NBD_REPLY_FLAG_DONE : 0;
  return Buffer.concat([chunkHeader(req.cookie, P.NBD_REPLY_TYPE_BLOCK_STATUS, flags, 20), b]);
}

/**
 * A multi-conn fake whose n-th connection negotiates `grants[n]` (the last one for any later
 * connection) and answers block status with that connection's own context ids; `served[n]`
 * counts the requests connection n answered.
 */
async function multiFake(grants: readonly Grant[]): Promise<{ fake: Fake; served: number[] }> {
  const conn = new Map<Socket, number>();
  const served: number[] = [];
  const grantOf = (sock: Socket): Grant => {
    if (!conn.has(sock)) {
      conn.set(sock, conn.size);
      served.push(0);
    }
    const n = Math.min(conn.get(sock) ?? 0, grants.length - 1);
    return grants[n] ?? { contexts: [] };
  };
  const fake = await startFake(tmp.dir, {
    optionReply: (option, sock) => {
      const g = grantOf(sock);
      if (option === P.NBD_OPT_SET_META_CONTEXT) {
        g.contexts.forEach(([name, id]) => sock.write(metaContextReply(id, name)));
      } else if (option === P.NBD_OPT_GO) {
        sock.write(exportInfoReply(g.size ?? FAKE_SIZE, g.flags ?? FLAGS));
      }
      sock.write(optReply(option, P.NBD_REP_ACK));
      return true;
    },
    onRequest: (req, sock) => {
      const n = conn.get(sock) ?? 0;
      served[n] = (served[n] ?? 0) + 1;
      const ids = grantOf(sock).contexts.map(([, id]) => id);
      ids.forEach((id, i) => sock.write(statusChunk(req, id, i === ids.length - 1)));
    },
  });
  return { fake, served };
}

const CONTEXTS = ['base:allocation', 'qemu:allocation-depth'];

describe('nbd client: multi-conn metadata contexts', () => {
  it('decodes block status with the context ids of the connection that served it', async () => {
    const { fake, served } = await multiFake([
      {
        contexts: [
          ['base:allocation', 7],
          ['qemu:allocation-depth', 8],
        ],
      },
      // the second connection numbers the same contexts differently, in another order
      {
        contexts: [
          ['qemu:allocation-depth', 3],
          ['base:allocation', 9],
        ],
      },
    ]);
    try {
      const client = await NbdClient.connect({
        socket: fake.socket,
        connections: 2,
        metaContexts: CONTEXTS,
      });
      assert.equal(client.connections, 2);
      const results = await Promise.all(
        Array.from({ length: 8 }, () => client.blockStatus(0, FAKE_SIZE)),
      );
      assert.ok(served.every((n) => n > 0) && served.length === 2, `served: ${served.join()}`);
      const expected = [
        { offset: 0, length: 65536, flags: 0 },
        { offset: 65536, length: FAKE_SIZE - 65536, flags: 3 },
      ];
      for (const r of results) {
        assert.deepEqual([...r.keys()].sort(), [...CONTEXTS].sort());
        for (const name of CONTEXTS) {
          assert.deepEqual(r.get(name), expected, name);
        }
      }
      await client.close();
    } finally {
      await fake.close();
    }
  });

  const first: Grant = { contexts: [['base:allocation', 1]] };
  const MISMATCH = 'NBD_ERR_MULTI_CONN_MISMATCH';
  const mismatches: [string, Grant, string][] = [
    ['a different size', { ...first, size: FAKE_SIZE / 2 }, MISMATCH],
    ['different transmission flags', { ...first, flags: FLAGS | P.NBD_FLAG_READ_ONLY }, MISMATCH],
    // a context never asked for: refused by that connection's handshake already
    [
      'different contexts',
      { contexts: [...first.contexts, ['qemu:allocation-depth', 2]] },
      'NBD_ERR_OPT_REPLY_MISMATCH',
    ],
  ];
  for (const [what, second, code] of mismatches) {
    it(`refuses a second connection that negotiated ${what}`, async () => {
      const { fake } = await multiFake([first, second]);
      try {
        await assert.rejects(
          NbdClient.connect({
            socket: fake.socket,
            connections: 2,
            metaContexts: ['base:allocation'],
          }),
          { name: 'NbdError', code },
        );
        await fake.clientGone;
      } finally {
        await fake.close();
      }
    });
  }
});
