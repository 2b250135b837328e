import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';

import { NbdClient } from '../index.js';
import * as P from '../protocol.js';

import {
  exportInfoReply,
  metaContextReply,
  optReply,
  startFake,
  type FakeScript,
} from './fake-server.js';
import { tempDir } from './servers.js';

const tmp = tempDir();
after(() => tmp.cleanup());

const BITMAP = 'qemu:dirty-bitmap:backup-vda';

/** Connects asking for `contexts`; expects the handshake to fail with `code`. */
async function refused(
  script: FakeScript,
  code: string,
  contexts = ['base:allocation', BITMAP],
): Promise<void> {
  const fake = await startFake(tmp.dir, script);
  try {
    const connecting = NbdClient.connect({
      socket: fake.socket,
      metaContexts: contexts,
      timeoutMs: 5000,
    });
    await assert.rejects(connecting, { name: 'NbdError', code });
  } finally {
    await fake.close();
  }
}

describe('handshake grants', () => {
  it('two contexts granted under one id are refused (extents of one read as the other)', async () => {
    await refused(
      {
        optionReply: (option, sock) => {
          if (option !== P.NBD_OPT_SET_META_CONTEXT) {
            return false;
          }
          sock.write(metaContextReply(1, 'base:allocation'));
          sock.write(metaContextReply(1, BITMAP));
          sock.write(optReply(option, P.NBD_REP_ACK));
          return true;
        },
      },
      'NBD_ERR_OPT_REPLY_MISMATCH',
    );
  });

  it('a minimum block size that is no power of two is refused', async () => {
    await refused(
      {
        optionReply: (option, sock) => {
          if (option !== P.NBD_OPT_GO) {
            return false;
          }
          const info = Buffer.alloc(14);
          info.writeUInt16BE(P.NBD_INFO_BLOCK_SIZE, 0);
          info.writeUInt32BE(3, 2);
          info.writeUInt32BE(4096, 6);
          info.writeUInt32BE(3 * 1024, 10);
          sock.write(optReply(option, P.NBD_REP_INFO, info));
          sock.write(exportInfoReply());
          sock.write(optReply(option, P.NBD_REP_ACK));
          return true;
        },
      },
      'NBD_ERR_EXPORT_INFO',
      ['base:allocation'],
    );
  });
});
