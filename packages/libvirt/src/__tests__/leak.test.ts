import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { Connection } from '../index.js';
import { measureCalls } from './leak-helper.js';

describe('no leaks (test:///default)', () => {
  it('keeps RSS flat over 10,000 calls', async () => {
    const conn = await Connection.connect('test:///default');
    try {
      const r = await measureCalls(conn, 'test', 10_000);
      console.log(`leak test:///default: ${JSON.stringify(r)}`);
      assert.ok(r.rssAfterMiB - r.rssBeforeMiB < 20, JSON.stringify(r));
    } finally {
      await conn.close();
    }
  });
});
