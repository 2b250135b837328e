/** `since`/`until` of the HTTP API: relative, ISO, and out of what a Date holds. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { parseSince } from '../http/routes.js';

const NOW = Date.parse('2026-11-29T12:00:00Z');

describe('parseSince', () => {
  it('reads 7d, 12h, 30m, 10s and ISO times', () => {
    assert.equal(parseSince('7d', NOW), NOW - 7 * 86_400_000);
    assert.equal(parseSince('12h', NOW), NOW - 12 * 3_600_000);
    assert.equal(parseSince('30m', NOW), NOW - 30 * 60_000);
    assert.equal(parseSince('10s', NOW), NOW - 10_000);
    assert.equal(parseSince('2026-11-28T00:00:00Z', NOW), Date.parse('2026-11-28T00:00:00Z'));
    assert.equal(parseSince(null, NOW), undefined);
  });

  it('refuses a span beyond any date as BAD_REQUEST, not a 500 later', () => {
    for (const v of ['99999999999d', `${'9'.repeat(400)}s`]) {
      assert.throws(
        () => parseSince(v, NOW),
        (e: unknown) => (e as { code?: string }).code === 'BAD_REQUEST',
        v,
      );
    }
  });
});
