import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { restoreProgress } from '../restore-reply.js';

describe('restore progress on the wire', () => {
  it('counts a sparse disk through to its size, holes included', () => {
    const GiB = 1024 ** 3;
    // a 4 GiB disk holding 100 MiB of data, half-way and at the end
    const half = {
      target: 'vda',
      bytesWritten: 50 * 2 ** 20,
      position: 2 * GiB,
      virtualSize: 4 * GiB,
    };
    assert.deepEqual(restoreProgress(half), {
      target: 'vda',
      bytesRead: 2 * GiB,
      bytesToRead: 4 * GiB,
    });
    const done = { ...half, bytesWritten: 100 * 2 ** 20, position: 4 * GiB };
    const p = restoreProgress(done);
    assert.equal(p.bytesRead, p.bytesToRead);
  });
});
