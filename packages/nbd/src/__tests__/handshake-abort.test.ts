import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';

import { NbdClient } from '../index.js';
import * as P from '../protocol.js';
import { optReply, startFake } from './fake-server.js';
import { tempDir } from './servers.js';

const tmp = tempDir();
after(() => tmp.cleanup());

/**
 * Connects to a fake that answers option `refused` through `reply`, and returns
 * the client's error code and every option the fake saw before the client left.
 */
async function optionsAfter(
  refused: number,
  reply: (sock: { write: (b: Buffer) => boolean }) => void,
): Promise<{ code: unknown; seen: number[] }> {
  const seen: number[] = [];
  const fake = await startFake(tmp.dir, {
    optionReply: (option, sock) => {
      seen.push(option);
      if (option !== refused) {
        return false;
      }
      reply(sock);
      return true;
    },
  });
  try {
    const err = await NbdClient.connect({
      socket: fake.socket,
      exportName: 'x',
      metaContexts: ['base:allocation'],
    }).then(
      () => assert.fail('connected'),
      (e: unknown) => e,
    );
    await fake.clientGone;
    return { code: (err as { code?: unknown }).code, seen };
  } finally {
    await fake.close();
  }
}

describe('a handshake that fails', () => {
  it('on a refusal, tells the server with NBD_OPT_ABORT before it closes', async () => {
    const policy = optReply(P.NBD_OPT_SET_META_CONTEXT, P.NBD_REP_ERR_POLICY);
    const r = await optionsAfter(P.NBD_OPT_SET_META_CONTEXT, (s) => s.write(policy));
    assert.equal(r.code, 'NBD_ERR_OPT_REJECTED');
    assert.deepEqual(r.seen, [
      P.NBD_OPT_STRUCTURED_REPLY,
      P.NBD_OPT_SET_META_CONTEXT,
      P.NBD_OPT_ABORT,
    ]);
  });

  it('on a malformed reply, just closes (the haggling is out of step)', async () => {
    const bad = optReply(P.NBD_OPT_SET_META_CONTEXT, P.NBD_REP_ACK);
    bad.writeBigUInt64BE(0x1234n, 0);
    const r = await optionsAfter(P.NBD_OPT_SET_META_CONTEXT, (s) => s.write(bad));
    assert.equal(r.code, 'NBD_ERR_OPT_REPLY_MAGIC');
    assert.deepEqual(r.seen, [P.NBD_OPT_STRUCTURED_REPLY, P.NBD_OPT_SET_META_CONTEXT]);
  });
});
