import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { closeAll } from '../close-all.js';

describe('closeAll', () => {
  it('starts every closer before any has finished', { timeout: 5000 }, async () => {
    // the first closer finishes only once the last has started: one after another, it never would
    let lastStarted = (): void => undefined;
    const started = new Promise<void>((resolve) => (lastStarted = resolve));
    const finished: string[] = [];
    await closeAll(
      async () => {
        await started;
        finished.push('first');
      },
      async () => {
        lastStarted();
        await Promise.resolve();
        finished.push('last');
      },
    );
    assert.deepEqual(finished.sort(), ['first', 'last']);
  });

  it('still closes the others when one fails, then throws the first failure', async () => {
    const closed: string[] = [];
    const ok = (name: string) => () => {
      closed.push(name);
      return Promise.resolve();
    };
    const fail = (msg: string) => () => Promise.reject(new Error(msg));
    await assert.rejects(closeAll(fail('first'), ok('lineage'), fail('second'), ok('repos')), {
      message: 'first',
    });
    assert.deepEqual(closed, ['lineage', 'repos']);
  });
});
