import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
  DEFAULT_RPO_MS,
  buildTimeline,
  formatMetrics,
  isChainBreak,
  isUnprotected,
  rpoStatus,
} from '../report/index.js';

const H = 3_600_000;

describe('rpoStatus', () => {
  const now = 1_000 * H;
  it('is never without a good snapshot, violated past the RPO', () => {
    assert.equal(
      rpoStatus({ lastGoodAt: null, lastRunStatus: null, rpoMs: DEFAULT_RPO_MS, now }),
      'never',
    );
    assert.equal(
      rpoStatus({
        lastGoodAt: now - 27 * H,
        lastRunStatus: 'succeeded',
        rpoMs: DEFAULT_RPO_MS,
        now,
      }),
      'violated',
    );
    assert.equal(isUnprotected('violated'), true);
    assert.equal(isUnprotected('at-risk'), false);
  });
  it('is at-risk within the RPO when the last run failed, ok otherwise', () => {
    const base = { lastGoodAt: now - 2 * H, rpoMs: DEFAULT_RPO_MS, now };
    assert.equal(rpoStatus({ ...base, lastRunStatus: 'failed' }), 'at-risk');
    assert.equal(rpoStatus({ ...base, lastRunStatus: 'succeeded' }), 'ok');
    assert.equal(rpoStatus({ ...base, lastRunStatus: 'running' }), 'ok');
  });
});

describe('isChainBreak', () => {
  it('counts forced fulls, not first fulls, policy fulls or repairs', () => {
    assert.equal(isChainBreak('BITMAP_MISSING'), true);
    assert.equal(isChainBreak('BITMAP_INCONSISTENT'), true);
    assert.equal(isChainBreak('NO_PARENT'), false);
    assert.equal(isChainBreak('POLICY_FULL'), false);
    // raw-only disks: full by design every night, not a break to alert on
    assert.equal(isChainBreak('BITMAPS_UNSUPPORTED'), false);
    assert.equal(isChainBreak('CHECKPOINT_REDEFINED'), false);
    assert.equal(isChainBreak('NOT_A_CODE'), false);
  });
});

describe('buildTimeline', () => {
  it('orders snapshots, breaks, repairs, failures and migrations', () => {
    const snap = (
      id: string,
      level: 'full' | 'incremental',
      at: number,
      host: string,
      reasons: string[],
    ) => ({
      id,
      level,
      host,
      repository: 'main',
      endedAt: at,
      reasons,
      status: 'committed',
    });
    const t = buildTimeline(
      [
        snap('s1', 'full', 10, 'a', ['NO_PARENT']),
        snap('s2', 'incremental', 20, 'b', ['CHECKPOINT_REDEFINED', 'DOMAIN_MIGRATED']),
        snap('s3', 'full', 40, 'b', ['BITMAP_INCONSISTENT']),
      ],
      [
        {
          id: 'r9',
          host: 'b',
          status: 'failed',
          at: 30,
          errorCode: 'AGENT_UNAVAILABLE',
          message: null,
        },
      ],
      [{ at: 15, fromHost: 'a', toHost: 'b' }],
    );
    assert.deepEqual(
      t.map((e) => `${e.at}:${e.kind}:${e.host}`),
      [
        '10:full:a',
        '15:migration:b',
        '20:repair:b',
        '20:incremental:b',
        '30:failed:b',
        '40:break:b',
        '40:full:b',
      ],
    );
    assert.deepEqual(t.find((e) => e.kind === 'break')?.codes, ['BITMAP_INCONSISTENT']);
    assert.match(t.find((e) => e.kind === 'migration')?.label ?? '', /a → b/);
  });
});

describe('formatMetrics', () => {
  it('writes HELP, TYPE and samples with escaped label values', () => {
    const text = formatMetrics([
      {
        name: 'virtvault_last_success_timestamp_seconds',
        help: 'End of the last good snapshot\\per VM',
        type: 'gauge',
        samples: [
          { labels: { vm: 'we"b\n1', host: 'a\\b' }, value: 1.5 },
          { labels: {}, value: Number.NaN },
        ],
      },
    ]);
    assert.equal(
      text,
      '# HELP virtvault_last_success_timestamp_seconds End of the last good snapshot\\\\per VM\n' +
        '# TYPE virtvault_last_success_timestamp_seconds gauge\n' +
        'virtvault_last_success_timestamp_seconds{vm="we\\"b\\n1",host="a\\\\b"} 1.5\n' +
        'virtvault_last_success_timestamp_seconds NaN\n',
    );
  });
  it('refuses bad metric and label names', () => {
    assert.throws(() => formatMetrics([{ name: '1bad', help: '', type: 'gauge', samples: [] }]), {
      code: 'BAD_METRIC',
    });
    assert.throws(
      () =>
        formatMetrics([
          { name: 'ok', help: '', type: 'gauge', samples: [{ labels: { 'a-b': 'x' }, value: 1 }] },
        ]),
      { code: 'BAD_METRIC' },
    );
  });
});

describe('formatUlid', () => {
  it('encodes time then randomness in 26 Crockford base32 characters that sort by time', async () => {
    const { formatUlid } = await import('../ulid.js');
    const zero = new Uint8Array(10);
    assert.equal(formatUlid(0, zero), '0'.repeat(26));
    assert.equal(formatUlid(1, new Uint8Array(10).fill(255)), '0000000001' + 'Z'.repeat(16));
    assert.ok(formatUlid(1_700_000_000_001, zero) > formatUlid(1_700_000_000_000, zero));
    assert.throws(() => formatUlid(1, new Uint8Array(9)), { code: 'BAD_ULID_INPUT' });
  });
});
