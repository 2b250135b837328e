import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { formatMetrics } from '@virtvault/core';
import type { VmStatus } from '@virtvault/lineage';

import { sortVms } from '../dashboard/pages.js';
import { summarize, vmReports } from '../report/figures.js';
import { buildMetrics } from '../report/metrics.js';

const H = 3_600_000;
const NOW = 1_000 * H;

function vm(
  name: string,
  lastGoodAgoH: number | null,
  lastRunStatus: string | null,
  rpoSeconds: number | null = null,
): VmStatus {
  return {
    uuid: `uuid-${name}`,
    name,
    currentHost: 'a',
    state: 'running',
    tags: [],
    lastSeenAt: NOW,
    lastSnapshot:
      lastGoodAgoH === null
        ? null
        : { id: `s-${name}`, endedAt: NOW - lastGoodAgoH * H, level: 'full', repository: 'main' },
    lastRun:
      lastRunStatus === null
        ? null
        : {
            id: `r-${name}`,
            status: lastRunStatus,
            level: 'full',
            reasons: [],
            errorCode: null,
            startedAt: NOW - H,
            finishedAt: NOW - H + 60_000,
            policy: 'p',
          },
    chainLength: 1,
    rpoSeconds,
  };
}

describe('report figures', () => {
  const vms = vmReports(
    [
      vm('ok1', 1, 'succeeded'),
      vm('late', 30, 'succeeded'),
      vm('risky', 2, 'failed'),
      vm('new', null, 'failed'),
      vm('tight', 2, 'succeeded', 3600),
    ],
    NOW,
  );

  it('judges each VM against its policy RPO or the default', () => {
    assert.deepEqual(
      vms.map((v) => [v.name, v.rpo]),
      [
        ['ok1', 'ok'],
        ['late', 'violated'],
        ['risky', 'at-risk'],
        ['new', 'never'],
        ['tight', 'violated'],
      ],
    );
    assert.equal(vms[0]?.ageSeconds, 3600);
  });

  it('summarizes success rates, bytes per day, dedup and reasons', () => {
    const s = summarize({
      since: NOW - 24 * H,
      vms,
      hostDays: [
        {
          host: 'a',
          day: '2026-01-01',
          succeeded: 3,
          failed: 1,
          abandoned: 0,
          running: 0,
          bytesRead: 10,
          bytesNew: 4,
        },
        {
          host: 'b',
          day: '2026-01-01',
          succeeded: 0,
          failed: 0,
          abandoned: 0,
          running: 1,
          bytesRead: 5,
          bytesNew: 1,
        },
      ],
      repositories: [
        {
          repository: 'main',
          snapshots: 2,
          vms: 1,
          logicalBytes: 100,
          bytesRead: 60,
          bytesNew: 25,
        },
      ],
      reasons: [
        { reason: 'BITMAP_MISSING', runs: 2 },
        { reason: 'NO_PARENT', runs: 5 },
        { reason: 'CHECKPOINT_REDEFINED', runs: 1 },
      ],
      migrations: [],
    });
    assert.deepEqual(s.protection, { ok: 1, 'at-risk': 1, violated: 2, never: 1 });
    assert.deepEqual(
      s.hostDays.map((d) => d.successRate),
      [0.75, null],
    );
    assert.deepEqual(s.bytesPerDay, [{ day: '2026-01-01', bytesRead: 15, bytesNew: 5 }]);
    assert.equal(s.repositories[0]?.dedupRatio, 4);
    assert.deepEqual(
      s.chainBreaks.map((r) => r.reason),
      ['BITMAP_MISSING'],
    );
    assert.deepEqual(
      s.fallbacks.map((r) => r.reason),
      ['BITMAP_MISSING', 'NO_PARENT'],
    );
    assert.deepEqual(
      s.repairs.map((r) => r.reason),
      ['CHECKPOINT_REDEFINED'],
    );
  });

  it('builds metric families that format as Prometheus text', () => {
    const text = formatMetrics(
      buildMetrics({
        vms,
        hosts: [
          {
            name: 'a',
            address: null,
            state: 'up',
            enabled: true,
            agentVersion: '0.1.0',
            maxConcurrent: 2,
            lastContactAt: NOW,
            lastError: null,
            vms: 5,
            running: 0,
          },
        ],
        hostDays: [
          {
            host: 'a',
            day: '2026-01-01',
            succeeded: 3,
            failed: 1,
            abandoned: 0,
            running: 0,
            bytesRead: 10,
            bytesNew: 4,
          },
        ],
        reasons: [{ reason: 'BITMAP_MISSING', runs: 2 }],
        queues: [{ host: 'a', waiting: 2, active: 1, delayed: 0 }],
      }),
    );
    assert.match(text, /^virtvault_vm_rpo_violated\{vm="late",uuid="uuid-late",host="a"\} 1$/m);
    assert.match(text, /^virtvault_runs_total\{host="a",status="failed"\} 1$/m);
    assert.match(text, /^virtvault_chain_breaks_total\{reason="BITMAP_MISSING"\} 2$/m);
    assert.match(text, /^virtvault_queue_depth\{host="a",state="waiting"\} 2$/m);
    assert.match(text, /^virtvault_agent_up\{host="a"\} 1$/m);
    assert.match(text, /^virtvault_vms\{rpo="violated"\} 2$/m);
  });

  it('sorts the VM table by RPO urgency, then name', () => {
    assert.deepEqual(
      sortVms(vms, 'rpo', 'asc').map((v) => v.name),
      ['new', 'late', 'tight', 'risky', 'ok1'],
    );
    assert.deepEqual(
      sortVms(vms, 'name', 'desc').map((v) => v.name),
      ['tight', 'risky', 'ok1', 'new', 'late'],
    );
  });
});
