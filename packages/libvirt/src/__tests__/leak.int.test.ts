import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { Connection } from '../index.js';
import { lab, labHost } from './lab-helper.js';
import { measureCalls } from './leak-helper.js';

const VM = 'lvleak';

describe('no leaks against the lab daemon', () => {
  let conn: Connection;

  before(async () => {
    const uri = await labHost('a');
    await lab('vm', VM, '16M');
    conn = await Connection.connect(uri);
  });
  after(async () => {
    await conn?.close();
    await lab('rmvm', VM);
  });

  it('keeps RSS flat over 10,000 calls over the daemon socket', async () => {
    const r = await measureCalls(conn, VM, 10_000);
    console.log(`leak lab: ${JSON.stringify(r)}`);
    assert.ok(r.rssAfterMiB - r.rssBeforeMiB < 20, JSON.stringify(r));
  });
});
