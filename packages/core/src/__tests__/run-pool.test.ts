import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { runPool } from '../run-pool.js';

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('runPool', () => {
  it('runs every item of an array with at most `limit` at once', async () => {
    let running = 0;
    let peak = 0;
    const seen: number[] = [];
    await runPool([1, 2, 3, 4, 5, 6, 7], 3, async (n) => {
      running++;
      peak = Math.max(peak, running);
      await tick();
      seen.push(n);
      running--;
    });
    assert.deepEqual([...seen].sort(), [1, 2, 3, 4, 5, 6, 7]);
    assert.equal(peak, 3);
  });

  it('takes items from an async iterator while earlier ones run', async () => {
    const produced: number[] = [];
    async function* items(): AsyncGenerator<number> {
      for (let n = 0; n < 5; n++) {
        await tick();
        produced.push(n);
        yield n;
      }
    }
    const seen: number[] = [];
    await runPool(items(), 2, async (n) => {
      assert.ok(produced.includes(n), 'a task starts only after its item was produced');
      await tick();
      seen.push(n);
    });
    assert.deepEqual([...seen].sort(), [0, 1, 2, 3, 4]);
  });

  it("rejects with the async iterator's own failure", async () => {
    async function* items(): AsyncGenerator<number> {
      yield 1;
      await tick();
      throw new Error('walk failed');
    }
    const seen: number[] = [];
    await assert.rejects(
      runPool(items(), 2, async (n) => {
        seen.push(n);
        await tick();
      }),
      /walk failed/,
    );
    assert.deepEqual(seen, [1]);
  });

  it('stops taking items after a task fails and closes the iterator', async () => {
    let closed = false;
    async function* items(): AsyncGenerator<number> {
      try {
        for (let n = 0; ; n++) {
          await tick();
          yield n;
        }
      } finally {
        closed = true;
      }
    }
    let ran = 0;
    await assert.rejects(
      runPool(items(), 2, async (n) => {
        ran++;
        await tick();
        if (n === 3) {
          throw new Error('task 3 failed');
        }
      }),
      /task 3 failed/,
    );
    assert.ok(closed, 'the unfinished iterator was closed');
    assert.ok(ran <= 6, `no items taken long after the failure (${ran} ran)`);
  });
});
