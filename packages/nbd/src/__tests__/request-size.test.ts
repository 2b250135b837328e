import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { NbdClient, isNbdError } from '../index.js';

describe('nbd client: requestSize', () => {
  it('refuses a size that is no positive count, before connecting', async () => {
    // a socket nobody serves: only a check before the connection can answer INVALID_ARGUMENT
    for (const requestSize of [0, -4096, Number.NaN, 0.5]) {
      await assert.rejects(
        NbdClient.connect({ socket: '/nonexistent/nbd.sock', requestSize }),
        (e) => {
          assert.ok(isNbdError(e, 'NBD_ERR_INVALID_ARGUMENT'), `${requestSize}: ${String(e)}`);
          return true;
        },
      );
    }
  });
});
