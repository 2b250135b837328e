import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';

import { NbdClient } from '../index.js';
import * as P from '../protocol.js';

import { dataReply, startFake } from './fake-server.js';
import { tempDir } from './servers.js';

const tmp = tempDir();
after(() => tmp.cleanup());

describe('nbd client: abort with requests queued beyond maxInFlight', () => {
  it('settles every queued read and closes (a queued waiter never waits forever)', async () => {
    // replies come 50 ms late, so most reads queue for a slot when the abort comes
    const fake = await startFake(tmp.dir, {
      onRequest: (req, sock) => {
        if (req.type === P.NBD_CMD_READ) {
          setTimeout(() => sock.write(dataReply(req)), 50);
        }
      },
    });
    try {
      const client = await NbdClient.connect({
        socket: fake.socket,
        metaContexts: ['base:allocation'],
        maxInFlight: 2,
      });
      const aborter = new AbortController();
      const reads = Array.from({ length: 24 }, (_, i) =>
        client.read(i * 4096, 4096, { signal: aborter.signal }),
      );
      setTimeout(() => aborter.abort(), 10);
      let timer: NodeJS.Timeout | undefined;
      const results = await Promise.race([
        Promise.allSettled(reads),
        new Promise<null>((r) => (timer = setTimeout(() => r(null), 3_000))),
      ]);
      clearTimeout(timer);
      assert.ok(results !== null, 'every read settled within 3 s of the abort');
      const codes = results.map((r) =>
        r.status === 'rejected' ? (r.reason as { code: string }).code : 'ok',
      );
      assert.ok(
        codes.every((c) => c === 'NBD_ERR_ABORTED' || c === 'ok'),
        codes.join(),
      );
      assert.ok(codes.filter((c) => c === 'NBD_ERR_ABORTED').length >= 20, codes.join());
      await client.close();
      await fake.clientGone;
    } finally {
      await fake.close();
    }
  });
});
