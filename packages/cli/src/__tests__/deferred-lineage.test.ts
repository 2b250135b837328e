import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setImmediate as tick } from 'node:timers/promises';

import { CoreError, hasErrorCode, type LineageStore } from '@virtvault/core';

import { DeferredLineage } from '../deferred-lineage.js';

describe('DeferredLineage', () => {
  it('fails each call with the failed open, which is never an unhandled rejection', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown): void => void unhandled.push(e);
    process.on('unhandledRejection', onUnhandled);
    try {
      // the open failed before the backup made its first call (a database thread that fails fast);
      // the backup hands over a promise derived from it, which nothing else awaits
      const failed = Promise.reject(new CoreError('DATA_DIR_INVALID', 'not a directory'));
      failed.catch(() => undefined);
      const lineage = new DeferredLineage(failed.then((s: LineageStore) => s));
      await tick();
      await tick();
      assert.deepEqual(unhandled, []);
      // the arguments never reach a store
      const args = [] as unknown as Parameters<LineageStore['heartbeat']>;
      await assert.rejects(lineage.heartbeat(...args), (e: unknown) =>
        hasErrorCode(e, 'DATA_DIR_INVALID'),
      );
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});
