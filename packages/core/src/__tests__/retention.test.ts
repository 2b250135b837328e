import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { hasErrorCode } from '../errors.js';
import { selectRetention, type RetentionCandidate } from '../retention/index.js';

const NOW = Date.parse('2025-03-31T12:00:00Z');

/** One snapshot every `stepH` hours going back from `from`, ids s000 (newest) ... */
function series(count: number, stepH: number, from = '2025-03-31T11:00:00Z'): RetentionCandidate[] {
  const t0 = Date.parse(from);
  return Array.from({ length: count }, (_, i) => ({
    id: `s${String(i).padStart(3, '0')}`,
    time: new Date(t0 - i * stepH * 3_600_000).toISOString(),
  }));
}

describe('selectRetention (GFS)', () => {
  it('keeps the newest N with keep-last', () => {
    const r = selectRetention({
      snapshots: series(5, 1),
      policy: { keepLast: 2 },
      now: NOW,
      timeZone: 'UTC',
    });
    assert.deepEqual(
      r.keep.map((k) => k.id),
      ['s000', 's001'],
    );
    assert.deepEqual(
      r.remove.map((k) => k.id),
      ['s002', 's003', 's004'],
    );
  });

  it('keeps the newest snapshot of each of the last N days', () => {
    // every 6 hours for 4 days, 11:00, 05:00, 23:00 (previous day), ...
    const r = selectRetention({
      snapshots: series(16, 6),
      policy: { keepDaily: 3 },
      now: NOW,
      timeZone: 'UTC',
    });
    assert.deepEqual(
      r.keep.map((k) => [k.id, k.time.slice(0, 13)]),
      [
        ['s000', '2025-03-31T11'],
        ['s002', '2025-03-30T23'],
        ['s006', '2025-03-29T23'],
      ],
    );
  });

  it('uses the given time zone for period boundaries', () => {
    // 23:00Z on the 30th is already the 31st in Berlin (UTC+2 after the DST switch on 30 March)
    const snaps = [
      { id: 'a', time: '2025-03-31T05:00:00Z' },
      { id: 'b', time: '2025-03-30T23:00:00Z' },
      { id: 'c', time: '2025-03-30T21:00:00Z' },
    ];
    const utc = selectRetention({
      snapshots: snaps,
      policy: { keepDaily: 2 },
      now: NOW,
      timeZone: 'UTC',
    });
    const berlin = selectRetention({
      snapshots: snaps,
      policy: { keepDaily: 2 },
      now: NOW,
      timeZone: 'Europe/Berlin',
    });
    assert.deepEqual(
      utc.keep.map((k) => k.id),
      ['a', 'b'],
    );
    assert.deepEqual(
      berlin.keep.map((k) => k.id),
      ['a', 'c'],
    );
  });

  it('keeps weekly (ISO weeks), monthly and yearly, and combines reasons', () => {
    const snaps = series(400, 24); // daily for ~13 months
    const r = selectRetention({
      snapshots: snaps,
      policy: { keepLast: 1, keepWeekly: 3, keepMonthly: 2, keepYearly: 2 },
      now: NOW,
      timeZone: 'UTC',
    });
    const byId = new Map(r.keep.map((k) => [k.id, k.reasons]));
    assert.deepEqual(byId.get('s000'), ['last', 'weekly', 'monthly', 'yearly']);
    // 2025-03-31 is a Monday: the previous ISO week ends Sunday 2025-03-30 (s001)
    assert.deepEqual(byId.get('s001'), ['weekly']);
    assert.deepEqual(byId.get('s008'), ['weekly']);
    // newest of February 2025 is 2025-02-28 = 31 days back
    assert.deepEqual(byId.get('s031'), ['monthly']);
    // newest of 2024 is 2024-12-31 = 90 days back
    assert.deepEqual(byId.get('s090'), ['yearly']);
    assert.equal(r.keep.length, 5);
    assert.equal(r.remove.length, 395);
  });

  it('always keeps protected and future snapshots', () => {
    const snaps = [
      ...series(3, 1),
      { id: 'p', time: '2020-01-01T00:00:00Z', protected: true },
      { id: 'f', time: '2025-04-02T00:00:00Z' },
    ];
    const r = selectRetention({
      snapshots: snaps,
      policy: { keepLast: 1 },
      now: NOW,
      timeZone: 'UTC',
    });
    const reasons = Object.fromEntries(r.keep.map((k) => [k.id, k.reasons]));
    assert.deepEqual(reasons, { f: ['future', 'last'], p: ['protected'] });
  });

  it('rejects empty or invalid policies, bad zones and times', () => {
    const s = series(2, 1);
    const bad = (code: string) => (e: unknown) => hasErrorCode(e, code);
    assert.throws(
      () => selectRetention({ snapshots: s, policy: {}, now: NOW, timeZone: 'UTC' }),
      bad('RETENTION_EMPTY_POLICY'),
    );
    assert.throws(
      () => selectRetention({ snapshots: s, policy: { keepLast: -1 }, now: NOW, timeZone: 'UTC' }),
      bad('RETENTION_BAD_POLICY'),
    );
    assert.throws(
      () =>
        selectRetention({ snapshots: s, policy: { keepLast: 1 }, now: NOW, timeZone: 'Mars/Base' }),
      bad('RETENTION_BAD_TIMEZONE'),
    );
    assert.throws(
      () =>
        selectRetention({
          snapshots: [{ id: 'x', time: '2025-01-01 10:00' }],
          policy: { keepLast: 1 },
          now: NOW,
          timeZone: 'UTC',
        }),
      bad('RETENTION_BAD_TIME'),
    );
  });
});
