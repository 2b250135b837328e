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
    assert.equal(parseSince('2026-11-28T01:00+01:00', NOW), Date.parse('2026-11-28T00:00:00Z'));
    assert.equal(parseSince('2026-11-28', NOW), Date.parse('2026-11-28T00:00:00Z'));
    assert.equal(parseSince(null, NOW), undefined);
  });

  it('refuses a span beyond any date as BAD_REQUEST, not a 500 later', () => {
    // beyond any date; before 1970 or year 0 (the database refused them, a 500); a unit forgotten
    // (V8 read `7` as July 2001); a time without a zone (read in the controller's own zone)
    const bad = ['99999999999d', `${'9'.repeat(400)}s`, '1000000d', '0000-01-01T00:00:00Z', '7'];
    for (const v of [...bad, '2026-01-20 10:00', '2026-01-20T10:00', 'yesterday']) {
      assert.throws(
        () => parseSince(v, NOW),
        (e: unknown) => (e as { code?: string }).code === 'BAD_REQUEST',
        v,
      );
    }
  });
});
