import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
  checkpointOwner,
  checkpointSortKey,
  isLineageCheckpoint,
  toCheckpointName,
} from '../chain/checkpoint-names.js';
import { planBackup } from '../chain/plan-backup.js';
import type { DomainLineage } from '../model/lineage.js';
import type { ObservedDomain } from '../model/observed.js';

import { T0, bitmap, chain, cleanupView, cp, edit, healthy } from './plan-fixtures.js';

const POLICY = { level: 'auto' as const };
const OURS = 'aaaaaaaa';
const THEIRS = 'bbbbbbbb';
const ULID = '01JOTHER0000000000000000X1';

/** The chain full + incremental, owned by `owner` (or untagged when undefined). */
function owned(owner: string | undefined): DomainLineage {
  const l = chain(['full', 'incremental']);
  return owner === undefined ? l : { ...l, owner };
}

/** `o` with one more checkpoint (metadata and bitmap on vda) named `name`. */
function withCheckpoint(o: ObservedDomain, name: string): ObservedDomain {
  return edit(o, (x) => {
    x.checkpoints.push({ name, parent: cp(2) });
    x.disks[0]?.bitmaps.push(bitmap(name));
  });
}

describe('checkpoint names carry the lineage owner', () => {
  it('names, parses and sorts tagged and untagged names', () => {
    assert.equal(toCheckpointName(ULID, OURS), `vv-${OURS}-${ULID}`);
    assert.equal(toCheckpointName(ULID), `vv-${ULID}`);
    assert.equal(checkpointOwner(`vv-${OURS}-${ULID}`), OURS);
    assert.equal(checkpointOwner(`vv-${ULID}`), null);
    assert.equal(checkpointOwner('one-1'), null);
    assert.equal(checkpointSortKey(`vv-${THEIRS}-${ULID}`), ULID);
    assert.equal(checkpointSortKey(`vv-${ULID}`), ULID);
  });

  it("counts untagged and own names as the lineage's, other owners' and other tools' not", () => {
    assert.equal(isLineageCheckpoint(`vv-${OURS}-${ULID}`, OURS), true);
    assert.equal(isLineageCheckpoint(`vv-${ULID}`, OURS), true);
    assert.equal(isLineageCheckpoint(`vv-${THEIRS}-${ULID}`, OURS), false);
    assert.equal(isLineageCheckpoint('virtnbdbackup.0', OURS), false);
    // a store without an owner treats every vv- name as its own, as before owners existed
    assert.equal(isLineageCheckpoint(`vv-${THEIRS}-${ULID}`, undefined), true);
  });
});

describe('planning beside another lineage', () => {
  it("leaves another lineage's checkpoint alone and stays incremental", () => {
    const lineage = owned(OURS);
    const other = `vv-${THEIRS}-${ULID}`;
    const plan = planBackup(lineage, withCheckpoint(healthy(lineage), other), POLICY, T0);
    assert.equal(plan.level, 'incremental');
    assert.equal(plan.incrementalFrom, cp(2));
    assert.deepEqual(cleanupView(plan), []);
    assert.deepEqual(plan.reasons, ['FOREIGN_CHECKPOINTS_IGNORED']);
    assert.match(plan.details[0]?.message ?? '', /another virtvault lineage's: vv-bbbbbbbb-/);
    assert.equal(plan.newCheckpoint?.owner, OURS);
  });

  it('still removes an orphan of its own, tagged or untagged', () => {
    const lineage = owned(OURS);
    for (const name of [`vv-${OURS}-${ULID}`, `vv-${ULID}`]) {
      const plan = planBackup(lineage, withCheckpoint(healthy(lineage), name), POLICY, T0);
      assert.deepEqual(cleanupView(plan), [`${name}|orphan|meta|vda|qmp`], name);
      assert.deepEqual(plan.reasons, ['ORPHAN_CHECKPOINTS'], name);
    }
  });

  it('keeps the checkpoint of a run still running, of its own repository too (doctor --fix beside a backup)', () => {
    const name = `vv-${OURS}-${ULID}`;
    const running = edit(owned(OURS), (l) => {
      l.unconfirmed = [{ name, repository: l.repository, running: true }];
    });
    const plan = planBackup(running, withCheckpoint(healthy(running), name), POLICY, T0);
    assert.deepEqual(cleanupView(plan), []);
    // its run ended without telling the lineage (failed, abandoned): this repository's own
    const ended = edit(owned(OURS), (l) => {
      l.unconfirmed = [{ name, repository: l.repository }];
    });
    const after = planBackup(ended, withCheckpoint(healthy(ended), name), POLICY, T0);
    assert.deepEqual(cleanupView(after), [`${name}|orphan|meta|vda|qmp`]);
  });

  it('a lineage without an owner removes any vv- orphan and names checkpoints untagged', () => {
    const lineage = owned(undefined);
    const other = `vv-${THEIRS}-${ULID}`;
    const plan = planBackup(lineage, withCheckpoint(healthy(lineage), other), POLICY, T0);
    assert.deepEqual(cleanupView(plan), [`${other}|orphan|meta|vda|qmp`]);
    assert.equal(plan.newCheckpoint?.owner, undefined);
  });

  it("builds on a checkpoint it records under another owner's tag (a lineage rebuilt from manifests)", () => {
    const retag = (n: string | null): string => `vv-${THEIRS}-${(n ?? '').slice(3)}`;
    const lineage = edit(owned(OURS), (l) => {
      for (const s of l.snapshots) {
        s.checkpoint = retag(s.checkpoint);
      }
      for (const c of l.checkpoints) {
        c.name = retag(c.name);
        c.disks = c.disks.map((d) => ({ ...d, bitmap: c.name }));
      }
    });
    const plan = planBackup(lineage, healthy(lineage), POLICY, T0);
    assert.equal(plan.level, 'incremental');
    assert.equal(plan.incrementalFrom, retag(cp(2)));
    assert.deepEqual(plan.reasons, []);
    assert.deepEqual(cleanupView(plan), []);
  });

  it('cleans up newest first across untagged and tagged names', () => {
    const lineage = owned(OURS);
    const older = `vv-01JOLDER00000000000000000`;
    const newer = `vv-${OURS}-01JZNEWER0000000000000000`;
    const observed = withCheckpoint(withCheckpoint(healthy(lineage), older), newer);
    const plan = planBackup(lineage, observed, POLICY, T0);
    assert.deepEqual(
      plan.cleanup.map((c) => c.checkpoint),
      [newer, older],
    );
  });
});
