import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { dataRuns } from '../data-runs.js';

const K = 1024;
const CS = 1024 * K;

describe('dataRuns', () => {
  it('finds the non-zero runs of a slot at 64 KiB granularity', () => {
    const b = Buffer.alloc(CS);
    b[10] = 1;
    b.fill(7, 256 * K, 384 * K);
    b[CS - 1] = 2;
    assert.deepEqual(dataRuns(b), [
      { at: 0, length: 64 * K },
      { at: 256 * K, length: 128 * K },
      { at: CS - 64 * K, length: 64 * K },
    ]);
    assert.deepEqual(dataRuns(Buffer.alloc(1000)), []);
    assert.deepEqual(dataRuns(Buffer.alloc(1000, 3)), [{ at: 0, length: 1000 }]);
  });
});
