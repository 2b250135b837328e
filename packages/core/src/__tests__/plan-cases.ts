/**
 * Table-driven planner cases: the case shape, shared mutators and the one assertion routine.
 */
import assert from 'node:assert/strict';

import { planBackup } from '../chain/plan-backup.js';
import type { DomainLineage } from '../model/lineage.js';
import type { ObservedDomain } from '../model/observed.js';
import type { LevelPolicy } from '../model/policy.js';
import type { ReasonCode } from '../model/reasons.js';

import { HOST_B, T0, bitmap, chain, cleanupView, dropMetadata } from './plan-fixtures.js';

export interface Case {
  name: string;
  /** peers.md breakers and DESIGN.md section 5 rules this case covers. */
  covers: string[];
  lineage: DomainLineage;
  observed: ObservedDomain;
  policy?: LevelPolicy;
  now?: number;
  level: 'full' | 'incremental' | 'differential';
  reasons: ReasonCode[];
  parent?: string | null;
  from?: string | null;
  redefine?: string[];
  validate?: boolean;
  cleanup?: string[];
  markBroken?: string[];
  newCheckpoint?: string | null;
}

export const FI = chain(['full', 'incremental']);
export const FII = chain(['full', 'incremental', 'incremental']);
export const auto: LevelPolicy = { level: 'auto' };
export const foreign = (o: ObservedDomain): void => {
  o.checkpoints.push(
    { name: 'one-2080-0', parent: null },
    { name: 'virtnbdbackup.0', parent: null },
  );
  o.disks[0]?.bitmaps.push(bitmap('one-2080-0'), bitmap('virtnbdbackup.0', { inconsistent: true }));
};
export const addDisk = (o: ObservedDomain): void => {
  const vda = o.disks[0];
  if (vda) {
    o.disks.push({ ...vda, target: 'vdb', source: '/images/vm1-b.qcow2', bitmaps: [] });
  }
};
export const migrate = (o: ObservedDomain): void => {
  o.host = HOST_B;
  dropMetadata(o);
};
export const ORPHAN = 'vv-01JZZZZZZZZZZZZZZZZZZZZZZZ';

/** Plans `c` and asserts its level, reasons and actions. */
export function checkCase(c: Case): void {
  const plan = planBackup(c.lineage, c.observed, c.policy ?? auto, c.now ?? T0);
  assert.equal(plan.level, c.level);
  assert.deepEqual(plan.reasons, c.reasons);
  if (c.level === 'full') {
    assert.equal(plan.parentSnapshot, null);
    assert.equal(plan.incrementalFrom, null);
    assert.deepEqual(plan.redefine, []);
  }
  if (c.parent !== undefined) {
    assert.equal(plan.parentSnapshot, c.parent);
  }
  if (c.from !== undefined) {
    assert.equal(plan.incrementalFrom, c.from);
  }
  if (c.redefine !== undefined) {
    assert.deepEqual(
      plan.redefine.map((r) => r.checkpoint),
      c.redefine,
    );
  }
  if (c.validate !== undefined) {
    assert.equal(plan.redefine[0]?.validate, c.validate);
  }
  if (c.cleanup !== undefined) {
    assert.deepEqual(cleanupView(plan), c.cleanup);
  }
  if (c.markBroken !== undefined) {
    assert.deepEqual(plan.markBroken.map((m) => m.checkpoint).sort(), c.markBroken);
  }
  if (c.newCheckpoint !== undefined) {
    const nc = plan.newCheckpoint;
    assert.equal(nc ? `${nc.mode}:${nc.disks.join(',')}` : null, c.newCheckpoint);
  }
  for (const item of plan.cleanup) {
    assert.ok(item.checkpoint.startsWith('vv-'), 'only our checkpoints are ever touched');
  }
  assert.ok(plan.redefine.length <= 1, 'only the parent is ever redefined');
  assert.ok(plan.details.every((d) => plan.reasons.includes(d.code)));
}
