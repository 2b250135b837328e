import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { planBackup } from '../chain/plan-backup.js';

import { fromQemuImgBitmap } from '../model/observed.js';

import { type Case, FI, FII, auto, checkCase, migrate } from './plan-cases.js';
import { DAY, HOST_B, T0, chain, cp, edit, healthy, patchBitmap, snap } from './plan-fixtures.js';

/** DESIGN.md section 5 rules, one or more cases each. */
const cases: Case[] = [
  {
    name: 'first backup: no parent',
    covers: ['R:NO_PARENT'],
    lineage: chain([]),
    observed: healthy(chain([])),
    level: 'full',
    reasons: ['NO_PARENT'],
    parent: null,
    from: null,
    cleanup: [],
    newCheckpoint: 'live:vda',
  },
  {
    name: 'healthy chain: incremental from the last snapshot, both heads kept',
    covers: ['R:incremental'],
    lineage: FI,
    observed: healthy(FI),
    level: 'incremental',
    reasons: [],
    parent: snap(2),
    from: cp(2),
    redefine: [],
    cleanup: [],
  },
  {
    name: 'superseded checkpoint of this repository is cleaned up, heads stay',
    covers: ['R:cleanup'],
    lineage: FII,
    observed: healthy(FII),
    level: 'incremental',
    reasons: [],
    from: cp(3),
    cleanup: [`${cp(2)}|superseded|meta|vda|qmp`],
  },
  {
    name: 'differential builds on the last full',
    covers: ['R:differential'],
    lineage: FII,
    observed: healthy(FII),
    policy: { level: 'differential' },
    level: 'differential',
    reasons: [],
    parent: snap(1),
    from: cp(1),
  },
  {
    name: 'differential without any full in the lineage',
    covers: ['R:NO_PARENT'],
    lineage: edit(FI, (l) => {
      l.snapshots.shift();
    }),
    observed: healthy(FI),
    policy: { level: 'differential' },
    level: 'full',
    reasons: ['NO_PARENT'],
  },
  {
    name: 'incremental requested but nothing to build on',
    covers: ['R:NO_PARENT'],
    lineage: chain([]),
    observed: healthy(chain([])),
    policy: { level: 'incremental' },
    level: 'full',
    reasons: ['NO_PARENT'],
  },
  {
    name: 'full requested',
    covers: ['R:POLICY_FULL'],
    lineage: FI,
    observed: healthy(FI),
    policy: { level: 'full' },
    level: 'full',
    reasons: ['POLICY_FULL'],
    parent: null,
    from: null,
    cleanup: [],
  },
  {
    name: 'chain length cap reached',
    covers: ['R:POLICY_FULL'],
    lineage: FII,
    observed: healthy(FII),
    policy: { level: 'auto', maxChainLength: 2 },
    level: 'full',
    reasons: ['POLICY_FULL'],
  },
  {
    name: 'last full too old',
    covers: ['R:POLICY_FULL'],
    lineage: FI,
    observed: healthy(FI),
    policy: { level: 'auto', maxFullAgeMs: 2 * DAY },
    level: 'full',
    reasons: ['POLICY_FULL'],
  },
  {
    name: 'full weekday in the policy time zone (Saturday 23:30 UTC is Sunday in Berlin)',
    covers: ['R:POLICY_FULL'],
    lineage: FI,
    observed: healthy(FI),
    policy: { level: 'auto', fullOnWeekdays: [0], timeZone: 'Europe/Berlin' },
    now: Date.UTC(2025, 0, 18, 23, 30),
    level: 'full',
    reasons: ['POLICY_FULL'],
  },
  {
    name: 'full weekday but a full was already taken that day',
    covers: ['R:POLICY_FULL'],
    lineage: edit(chain(['full']), (l) => {
      const s = l.snapshots[0];
      if (s) {
        s.startedAt = T0 - 3_600_000;
      }
    }),
    observed: healthy(chain(['full'])),
    policy: { level: 'auto', fullOnWeekdays: [3] },
    level: 'incremental',
    reasons: [],
  },
  {
    name: 'shut-off domain, bitmaps from qemu-img (flag auto): offline incremental',
    covers: ['R:shut-off'],
    lineage: FI,
    observed: edit(healthy(FI), (o) => {
      o.domain.state = 'shut-off';
      const d = o.disks[0];
      if (d) {
        d.nodeName = null;
        d.bitmaps = [fromQemuImgBitmap(cp(1), ['auto']), fromQemuImgBitmap(cp(2), ['auto'])];
      }
    }),
    level: 'incremental',
    reasons: ['DOMAIN_SHUT_OFF'],
    from: cp(2),
    newCheckpoint: 'offline:vda',
  },
  {
    name: 'several broken old checkpoints: newest first, metadata then bitmap',
    covers: ['R:cleanup-order'],
    lineage: chain(['full', 'incremental', 'incremental', 'incremental']),
    observed: edit(healthy(chain(['full', 'incremental', 'incremental', 'incremental'])), (o) => {
      patchBitmap(o, cp(1), { inconsistent: true });
      patchBitmap(o, cp(2), { inconsistent: true });
    }),
    level: 'incremental',
    reasons: [],
    from: cp(4),
    cleanup: [
      `${cp(3)}|superseded|meta|vda|qmp`,
      `${cp(2)}|broken|meta|vda|qmp`,
      `${cp(1)}|broken|meta|vda|qmp`,
    ],
    markBroken: [cp(1), cp(2)],
  },
  {
    name: 'checkpoints of another repository chain are kept',
    covers: ['R:cleanup'],
    lineage: edit(FII, (l) => {
      const c = l.checkpoints[1];
      if (c) {
        c.repository = 'repo-offsite';
      }
    }),
    observed: healthy(FII),
    level: 'incremental',
    reasons: [],
    cleanup: [],
  },
];

describe('planBackup: rules', () => {
  for (const c of cases) {
    it(`${c.name} [${c.covers.join(' ')}]`, () => checkCase(c));
  }

  it('reports a migration once: differentials after the move do not repeat it', () => {
    const diff = { level: 'differential' } as const;
    const fd = chain(['full', 'differential']);
    const first = planBackup(chain(['full']), edit(healthy(chain(['full'])), migrate), diff, T0);
    assert.equal(first.level, 'differential');
    assert.ok(first.reasons.includes('DOMAIN_MIGRATED'), first.reasons.join());
    // the differential taken on host-b after the move; the full's checkpoint redefined there
    const moved = edit(fd, (l) => {
      const d = l.snapshots[1];
      if (d) {
        d.host = HOST_B;
      }
    });
    const observed = edit(healthy(fd), (o) => {
      o.host = HOST_B;
    });
    const next = planBackup(moved, observed, diff, T0);
    assert.equal(next.level, 'differential');
    assert.ok(!next.reasons.includes('DOMAIN_MIGRATED'), next.reasons.join());
  });

  it('is deterministic and does not mutate its inputs', () => {
    const observed = edit(healthy(FII), migrate);
    const before = JSON.stringify([FII, observed]);
    const a = planBackup(FII, observed, auto, T0);
    assert.deepEqual(a, planBackup(FII, observed, auto, T0));
    assert.equal(JSON.stringify([FII, observed]), before);
  });
});
