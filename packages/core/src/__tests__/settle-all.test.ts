import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { settleAll } from '../settle-all.js';

describe('settleAll', () => {
  it('rejects with the first failure only once every promise has settled', async () => {
    const order: string[] = [];
    const slow = new Promise<void>((resolve) =>
      setTimeout(() => {
        order.push('slow done');
        resolve();
      }, 30),
    );
    const failed = Promise.reject(new Error('first'));
    const later = new Promise<void>((_r, reject) =>
      setTimeout(() => reject(new Error('second')), 10),
    );
    await assert.rejects(
      settleAll([failed, slow, later]).finally(() => order.push('settled')),
      /first/,
    );
    assert.deepEqual(order, ['slow done', 'settled']);
  });

  it('resolves when all resolve, and at once for none', async () => {
    await settleAll([Promise.resolve(1), Promise.resolve('x')]);
    await settleAll([]);
  });
});
