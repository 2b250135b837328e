import assert from 'node:assert/strict';
import { test } from 'node:test';

import { zeroFill } from '../zero-fill.js';

/** A buffer of `n` bytes of 0xff, shared between threads or not. */
function ones(n: number, shared: boolean): Uint8Array {
  const b = new Uint8Array(shared ? new SharedArrayBuffer(n) : new ArrayBuffer(n));
  return b.fill(0xff);
}

for (const shared of [true, false]) {
  const kind = shared ? 'shared' : 'unshared';

  test(`zeroFill zeroes exactly [start, end) of ${kind} memory, across block edges`, () => {
    const n = 200 * 1024 + 7;
    for (const [start, end] of [
      [0, n],
      [1, 64 * 1024],
      [5, 64 * 1024 + 5],
      [3, 131_075],
      [n - 1, n],
      [10, 10],
    ] as const) {
      const b = ones(n, shared);
      zeroFill(b, start, end);
      assert.equal(
        b.subarray(start, end).every((x) => x === 0),
        true,
        `${start}..${end}`,
      );
      assert.equal(
        b.subarray(0, start).every((x) => x === 0xff),
        true,
        `before ${start}`,
      );
      assert.equal(
        b.subarray(end).every((x) => x === 0xff),
        true,
        `after ${end}`,
      );
    }
  });

  test(`zeroFill of a ${kind} view zeroes the view, to its end by default`, () => {
    const whole = ones(300 * 1024, shared);
    const view = whole.subarray(1000, 150_000);
    zeroFill(view, 10);
    assert.equal(
      whole.subarray(1010, 150_000).every((x) => x === 0),
      true,
    );
    assert.equal(
      whole.subarray(0, 1010).every((x) => x === 0xff),
      true,
    );
    assert.equal(
      whole.subarray(150_000).every((x) => x === 0xff),
      true,
    );
  });
}
