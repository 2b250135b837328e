import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { CHAIN_BREAKERS } from '../chain/breakers.js';
import type { DomainLineage } from '../model/lineage.js';
import { fromQemuImgBitmap } from '../model/observed.js';

import { type Case, FI, FII, ORPHAN, addDisk, checkCase, foreign, migrate } from './plan-cases.js';
import {
  GIB,
  bitmap,
  chain,
  cp,
  dropBitmap,
  dropMetadata,
  edit,
  healthy,
  patchBitmap,
} from './plan-fixtures.js';

/** Adds a second disk, vdb, to every snapshot of `l` (its checkpoints unchanged). */
function withVdb(l: DomainLineage, source: string, format: string): void {
  for (const s of l.snapshots) {
    s.disks.push({ target: 'vdb', source, format, virtualSize: 10 * GIB });
  }
}

/** peers.md chain breakers B1..B11 and their combinations. */
const cases: Case[] = [
  {
    name: 'parent snapshot missing from the repository',
    covers: ['B9', 'R:PARENT_SNAPSHOT_UNUSABLE'],
    lineage: edit(FI, (l) => {
      const s = l.snapshots[1];
      if (s) {
        s.status = 'missing';
      }
    }),
    observed: healthy(FI),
    level: 'full',
    reasons: ['PARENT_SNAPSHOT_UNUSABLE'],
    cleanup: [],
  },
  {
    name: 'parent snapshot incomplete',
    covers: ['B9', 'R:PARENT_SNAPSHOT_UNUSABLE'],
    lineage: edit(FI, (l) => {
      const s = l.snapshots[1];
      if (s) {
        s.status = 'incomplete';
      }
    }),
    observed: healthy(FI),
    level: 'full',
    reasons: ['PARENT_SNAPSHOT_UNUSABLE'],
  },
  {
    name: 'parent snapshot failed verify: full, checkpoints untouched until the full exists',
    covers: ['B9', 'R:PARENT_SNAPSHOT_UNUSABLE', 'combo'],
    lineage: edit(FI, (l) => {
      const s = l.snapshots[1];
      if (s) {
        s.verify = 'failed';
      }
    }),
    observed: healthy(FI),
    level: 'full',
    reasons: ['PARENT_SNAPSHOT_UNUSABLE'],
    parent: null,
    from: null,
    redefine: [],
    cleanup: [],
    markBroken: [],
  },
  {
    name: 'parent checkpoint marked broken in the lineage',
    covers: ['B9'],
    lineage: edit(FI, (l) => {
      const c = l.checkpoints[1];
      if (c) {
        c.state = 'broken';
        c.stateReason = 'INCREMENTAL_FAILED';
      }
    }),
    observed: healthy(FI),
    level: 'full',
    // the cause found when it was marked is named again
    reasons: ['PARENT_CHECKPOINT_UNUSABLE', 'INCREMENTAL_FAILED'],
    cleanup: [`${cp(2)}|broken|meta|vda|qmp`],
  },
  {
    name: 'parent checkpoint removed by doctor --fix: the code doctor named is recorded',
    covers: ['B1'],
    lineage: edit(FI, (l) => {
      const c = l.checkpoints[1];
      if (c) {
        c.state = 'deleted';
        c.stateReason = 'BITMAP_INCONSISTENT';
      }
    }),
    observed: edit(healthy(FI), (o) => {
      o.checkpoints = o.checkpoints.filter((c) => c.name !== cp(2));
      for (const d of o.disks) {
        d.bitmaps = d.bitmaps.filter((b) => b.name !== cp(2));
      }
    }),
    level: 'full',
    reasons: ['PARENT_CHECKPOINT_UNUSABLE', 'BITMAP_INCONSISTENT'],
  },
  {
    name: 'disk added',
    covers: ['B6', 'R:DISKS_CHANGED'],
    lineage: FI,
    observed: edit(healthy(FI), addDisk),
    level: 'full',
    reasons: ['DISKS_CHANGED'],
    newCheckpoint: 'live:vda,vdb',
  },
  {
    name: 'disk removed',
    covers: ['B6', 'R:DISKS_CHANGED'],
    lineage: edit(FI, (l) => {
      l.snapshots[1]?.disks.push({
        target: 'vdb',
        source: '/x.qcow2',
        format: 'qcow2',
        virtualSize: GIB,
      });
    }),
    observed: healthy(FI),
    level: 'full',
    reasons: ['DISKS_CHANGED'],
  },
  {
    name: 'disk resized',
    covers: ['B6', 'R:DISKS_CHANGED'],
    lineage: FI,
    observed: edit(healthy(FI), (o) => {
      const d = o.disks[0];
      if (d) {
        d.virtualSize = 20 * GIB;
      }
    }),
    level: 'full',
    reasons: ['DISKS_CHANGED'],
  },
  {
    name: 'external snapshot: new source without the bitmaps',
    covers: ['B4', 'R:DISKS_CHANGED', 'R:BITMAP_MISSING'],
    lineage: FI,
    observed: edit(healthy(FI), (o) => {
      const d = o.disks[0];
      if (d) {
        d.source = '/images/vm1.overlay.qcow2';
        d.bitmaps = [];
      }
    }),
    level: 'full',
    reasons: ['DISKS_CHANGED', 'BITMAP_MISSING'],
    cleanup: [`${cp(2)}|broken|meta||qmp`, `${cp(1)}|broken|meta||qmp`],
    markBroken: [cp(1), cp(2)],
  },
  {
    name: 'QEMU killed: parent bitmap absent',
    covers: ['B1', 'R:BITMAP_MISSING'],
    lineage: FI,
    observed: edit(healthy(FI), (o) => dropBitmap(o, cp(2))),
    level: 'full',
    reasons: ['BITMAP_MISSING'],
    cleanup: [`${cp(2)}|broken|meta||qmp`],
    markBroken: [cp(2)],
  },
  {
    name: 'unclean close: parent bitmap inconsistent',
    covers: ['B1', 'R:BITMAP_INCONSISTENT'],
    lineage: FI,
    observed: edit(healthy(FI), (o) =>
      patchBitmap(o, cp(2), { inconsistent: true, recording: false }),
    ),
    level: 'full',
    reasons: ['BITMAP_INCONSISTENT'],
    redefine: [],
    cleanup: [`${cp(2)}|broken|meta|vda|qmp`],
    markBroken: [cp(2)],
  },
  {
    name: 'parent bitmap not recording',
    covers: ['B1', 'R:BITMAP_INCONSISTENT'],
    lineage: FI,
    observed: edit(healthy(FI), (o) => patchBitmap(o, cp(2), { recording: false })),
    level: 'full',
    reasons: ['BITMAP_INCONSISTENT'],
    cleanup: [`${cp(2)}|broken|meta|vda|qmp`],
  },
  {
    name: 'parent bitmap busy (stale block job): full, bitmap left alone',
    covers: ['B7'],
    lineage: FI,
    observed: edit(healthy(FI), (o) => patchBitmap(o, cp(2), { busy: true })),
    level: 'full',
    reasons: ['BITMAP_BUSY'],
    cleanup: [],
    markBroken: [],
  },
  {
    name: 'domain re-created: metadata lost, bitmaps fine → redefine only the parent',
    covers: ['B2', 'R:CHECKPOINT_REDEFINED', 'R:parent-only'],
    lineage: FI,
    observed: edit(healthy(FI), (o) => dropMetadata(o)),
    level: 'incremental',
    reasons: ['CHECKPOINT_REDEFINED'],
    from: cp(2),
    redefine: [cp(2)],
    validate: true,
    cleanup: [],
  },
  {
    name: 'transient domain re-created',
    covers: ['B2', 'R:CHECKPOINT_REDEFINED'],
    lineage: FI,
    observed: edit(healthy(FI), (o) => {
      dropMetadata(o);
      o.domain.transient = true;
    }),
    level: 'incremental',
    reasons: ['CHECKPOINT_REDEFINED', 'DOMAIN_TRANSIENT'],
    redefine: [cp(2)],
  },
  {
    name: 'seed #266: old broken checkpoints never block; only the parent is redefined',
    covers: ['B1', 'B2', 'R:old-broken-never-blocks', 'R:parent-only'],
    lineage: FII,
    observed: edit(healthy(FII), (o) => {
      dropMetadata(o);
      o.domain.transient = true;
      patchBitmap(o, cp(1), { inconsistent: true, recording: false });
      dropBitmap(o, cp(2));
    }),
    level: 'incremental',
    reasons: ['CHECKPOINT_REDEFINED', 'DOMAIN_TRANSIENT'],
    from: cp(3),
    redefine: [cp(3)],
    cleanup: [`${cp(1)}|broken||vda|qmp`],
    markBroken: [cp(1), cp(2)],
  },
  {
    name: 'live migration: metadata stayed behind, bitmaps moved',
    covers: ['B3', 'R:DOMAIN_MIGRATED', 'R:CHECKPOINT_REDEFINED'],
    lineage: FI,
    observed: edit(healthy(FI), migrate),
    level: 'incremental',
    reasons: ['DOMAIN_MIGRATED', 'CHECKPOINT_REDEFINED'],
    redefine: [cp(2)],
    cleanup: [],
  },
  {
    name: 'migration without bitmap migration',
    covers: ['B3', 'R:BITMAP_MISSING'],
    lineage: FI,
    observed: edit(healthy(FI), (o) => {
      migrate(o);
      dropBitmap(o, cp(1));
      dropBitmap(o, cp(2));
    }),
    level: 'full',
    reasons: ['DOMAIN_MIGRATED', 'BITMAP_MISSING'],
    redefine: [],
    cleanup: [],
    markBroken: [cp(1), cp(2)],
  },
  {
    name: 'migrated AND bitmap inconsistent',
    covers: ['B1', 'B3', 'combo'],
    lineage: FI,
    observed: edit(healthy(FI), (o) => {
      migrate(o);
      patchBitmap(o, cp(2), { inconsistent: true, recording: false });
    }),
    level: 'full',
    reasons: ['DOMAIN_MIGRATED', 'BITMAP_INCONSISTENT'],
    redefine: [],
    cleanup: [`${cp(2)}|broken||vda|qmp`],
    markBroken: [cp(2)],
  },
  {
    name: 'disk added AND policy full due',
    covers: ['B6', 'combo'],
    lineage: FII,
    observed: edit(healthy(FII), addDisk),
    policy: { level: 'auto', maxChainLength: 2 },
    level: 'full',
    reasons: ['POLICY_FULL', 'DISKS_CHANGED'],
    cleanup: [`${cp(2)}|superseded|meta|vda|qmp`],
  },
  {
    name: 'foreign checkpoints present (OpenNebula, virtnbdbackup): ignored, never touched',
    covers: ['B8', 'combo'],
    lineage: FI,
    observed: edit(healthy(FI), foreign),
    level: 'incremental',
    reasons: ['FOREIGN_CHECKPOINTS_IGNORED'],
    from: cp(2),
    cleanup: [],
  },
  {
    name: 'foreign checkpoints AND metadata lost: only our parent is redefined',
    covers: ['B8', 'B2', 'combo'],
    lineage: FI,
    observed: edit(healthy(FI), (o) => {
      dropMetadata(o);
      foreign(o);
    }),
    level: 'incremental',
    reasons: ['FOREIGN_CHECKPOINTS_IGNORED', 'CHECKPOINT_REDEFINED'],
    redefine: [cp(2)],
    cleanup: [],
  },
  {
    name: 'interrupted backup left an orphan checkpoint',
    covers: ['B7'],
    lineage: FI,
    observed: edit(healthy(FI), (o) => {
      o.checkpoints.push({ name: ORPHAN, parent: cp(2) });
      o.disks[0]?.bitmaps.push(bitmap(ORPHAN));
    }),
    level: 'incremental',
    reasons: ['ORPHAN_CHECKPOINTS'],
    from: cp(2),
    cleanup: [`${ORPHAN}|orphan|meta|vda|qmp`],
  },
  {
    name: 'disk reverted to an old image: parent bitmap gone, stale bitmap of ours left',
    covers: ['B5'],
    lineage: FI,
    observed: edit(healthy(FI), (o) => {
      dropBitmap(o, cp(2));
      dropBitmap(o, cp(1));
      o.disks[0]?.bitmaps.push(bitmap('vv-01J0000000000000000000OLD'));
    }),
    level: 'full',
    reasons: ['BITMAP_MISSING', 'ORPHAN_CHECKPOINTS'],
    cleanup: [
      `${cp(2)}|broken|meta||qmp`,
      `${cp(1)}|broken|meta||qmp`,
      'vv-01J0000000000000000000OLD|orphan||vda|qmp',
    ],
  },
  {
    name: 'raw disk: full every time, no checkpoint',
    covers: ['B10'],
    lineage: edit(chain(['full']), (l) => {
      const s = l.snapshots[0];
      if (s) {
        s.checkpoint = null;
        s.disks = [
          { target: 'vda', source: '/images/vm1.qcow2', format: 'raw', virtualSize: 10 * GIB },
        ];
      }
      l.checkpoints = [];
    }),
    observed: edit(healthy(chain([])), (o) => {
      const d = o.disks[0];
      if (d) {
        d.format = 'raw';
        d.bitmapsSupported = false;
      }
    }),
    level: 'full',
    reasons: ['BITMAPS_UNSUPPORTED'],
    newCheckpoint: null,
  },
  {
    name: 'qcow2 v2 disk added next to a qcow2 v3 one: full, the checkpoint on the v3 disk only',
    covers: ['B10'],
    lineage: FI,
    observed: edit(healthy(FI), (o) => {
      addDisk(o);
      const d = o.disks[1];
      if (d) {
        d.bitmapsSupported = false;
      }
    }),
    level: 'full',
    reasons: ['DISKS_WITHOUT_BITMAPS', 'DISKS_CHANGED'],
    newCheckpoint: 'live:vda',
  },
  {
    name: 'a raw disk beside a qcow2 one, both in the parent: incremental, the raw one read in full',
    covers: ['B10', 'R:DISKS_WITHOUT_BITMAPS'],
    lineage: edit(FI, (l) => withVdb(l, '/images/vm1-b.raw', 'raw')),
    observed: edit(healthy(FI), (o) => {
      addDisk(o);
      const d = o.disks[1];
      if (d) {
        Object.assign(d, { source: '/images/vm1-b.raw', format: 'raw', bitmapsSupported: false });
      }
    }),
    level: 'incremental',
    reasons: ['DISKS_WITHOUT_BITMAPS'],
    from: cp(2),
    newCheckpoint: 'live:vda',
  },
  {
    name: 'upgrade/reboot lost the bitmap on one of two disks',
    covers: ['B11', 'R:BITMAP_MISSING'],
    lineage: edit(FI, (l) => {
      withVdb(l, '/images/vm1-b.qcow2', 'qcow2');
      for (const c of l.checkpoints) {
        c.disks.push({ target: 'vdb', bitmap: c.name });
      }
    }),
    observed: edit(healthy(FI), (o) => {
      addDisk(o);
      const vdb = o.disks[1];
      if (vdb) {
        vdb.bitmaps = [bitmap(cp(1))];
      }
    }),
    level: 'full',
    reasons: ['BITMAP_MISSING'],
    cleanup: [`${cp(2)}|broken|meta|vda|qmp`],
    markBroken: [cp(2)],
  },
  {
    name: 'shut-off domain after a crash: flag in-use, cleaned up with qemu-img',
    covers: ['B1', 'R:shut-off'],
    lineage: FI,
    observed: edit(healthy(FI), (o) => {
      o.domain.state = 'shut-off';
      const d = o.disks[0];
      if (d) {
        d.bitmaps = [
          fromQemuImgBitmap(cp(1), ['auto']),
          fromQemuImgBitmap(cp(2), ['in-use', 'auto']),
        ];
      }
    }),
    level: 'full',
    reasons: ['DOMAIN_SHUT_OFF', 'BITMAP_INCONSISTENT'],
    cleanup: [`${cp(2)}|broken|meta|vda|qemu-img`],
  },
  {
    name: 'shut-off, re-defined domain: parent redefined without validation',
    covers: ['B2', 'R:shut-off'],
    lineage: FI,
    observed: edit(healthy(FI), (o) => {
      o.domain.state = 'shut-off';
      dropMetadata(o);
    }),
    level: 'incremental',
    reasons: ['DOMAIN_SHUT_OFF', 'CHECKPOINT_REDEFINED'],
    redefine: [cp(2)],
    validate: false,
  },
];

describe('planBackup: chain breakers', () => {
  for (const c of cases) {
    it(`${c.name} [${c.covers.join(' ')}]`, () => checkCase(c));
  }

  it('covers every breaker of peers.md with at least one case', () => {
    for (const b of CHAIN_BREAKERS) {
      assert.ok(
        cases.some((c) => c.covers.includes(b.id)),
        `no planner case for ${b.id}`,
      );
    }
  });
});
