import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type { BackupPlan, CleanupItem } from '@virtvault/core';

import {
  cleanupLines,
  fix,
  fixIncomplete,
  recordFix,
  takenActions,
} from '../commands/doctor-fix.js';

const ITEMS: CleanupItem[] = [
  {
    checkpoint: 'vv-01',
    why: 'broken',
    reason: 'BITMAP_MISSING',
    deleteMetadata: true,
    bitmaps: [{ disk: 'vda', bitmap: 'vv-01' }],
    via: 'qmp',
  },
  {
    checkpoint: 'vv-02',
    why: 'orphan',
    reason: null,
    deleteMetadata: false,
    bitmaps: [{ disk: 'vdb', bitmap: 'vv-02' }],
    via: 'qmp',
  },
];
const PLAN = { cleanup: ITEMS } as unknown as BackupPlan;

/** A hypervisor whose removal of bitmap vv-02 fails with a coded error. */
const HV = {
  deleteCheckpointMetadata: () => Promise.resolve(),
  removeBitmap: (_uuid: string, _disk: string, bitmap: string) =>
    bitmap === 'vv-02'
      ? Promise.reject(Object.assign(new Error('device busy'), { code: 'LIBVIRT_ERROR' }))
      : Promise.resolve(),
};

describe('doctor --fix', () => {
  it("records each action's outcome, a failure with its code and message", async () => {
    const fixed = await fix(HV, 'uuid', PLAN);
    assert.deepEqual(
      fixed.map((a) => [a.checkpoint, a.ok]),
      [
        ['vv-01', true],
        ['vv-01', true],
        ['vv-02', false],
      ],
    );
    assert.deepEqual(fixed[2]?.error, { code: 'LIBVIRT_ERROR', message: 'device busy' });
    assert.equal(
      fixIncomplete(fixed),
      '1 of 3 clean-up actions failed; the next backup tries them again',
    );
    assert.equal(fixIncomplete(fixed.slice(0, 2)), null);
    assert.equal(fixIncomplete(null), null);
  });

  it('takes no action once interrupted, and none after the one under way', async () => {
    const calls: string[] = [];
    const ac = new AbortController();
    const hv = {
      deleteCheckpointMetadata: (_uuid: string, c: string) => {
        calls.push(`delete ${c}`);
        // a Ctrl-C while the first action runs
        ac.abort(new Error('interrupted by SIGINT'));
        return Promise.resolve();
      },
      removeBitmap: (_uuid: string, _disk: string, bitmap: string) => {
        calls.push(`remove ${bitmap}`);
        return Promise.resolve();
      },
    };
    const fixed = await fix(hv, 'uuid', PLAN, ac.signal);
    assert.deepEqual(calls, ['delete vv-01']);
    assert.deepEqual(
      fixed.map((a) => [a.checkpoint, a.ok, a.error?.code]),
      [
        ['vv-01', true, undefined],
        ['vv-01', false, 'DOCTOR_INTERRUPTED'],
        ['vv-02', false, 'DOCTOR_INTERRUPTED'],
      ],
    );
    assert.equal(takenActions(fixed).length, 1);
    // neither checkpoint is recorded as cleaned up: each has an action not taken
    const marked: unknown[] = [];
    const store = {
      markCheckpoints: (...args: unknown[]) => Promise.resolve(void marked.push(args)),
      recordEvent: () => Promise.resolve(),
    };
    await recordFix(store, 'uuid', { ...PLAN, markBroken: [] }, fixed, 0);
    assert.deepEqual(marked, []);
    calls.length = 0;
    const again = await fix(hv, 'uuid', PLAN, ac.signal);
    assert.deepEqual(calls, [], 'already interrupted: nothing at all');
    assert.equal(takenActions(again).length, 0);
  });

  it("keeps a checkpoint's bitmaps when its metadata could not be deleted", async () => {
    const removed: string[] = [];
    const hv = {
      deleteCheckpointMetadata: () => Promise.reject(new Error('operation timed out')),
      removeBitmap: (_uuid: string, _disk: string, bitmap: string) => {
        removed.push(bitmap);
        return Promise.resolve();
      },
    };
    const fixed = await fix(hv, 'uuid', PLAN);
    assert.deepEqual(
      fixed.map((a) => [a.checkpoint, a.action.split(' ')[0], a.ok]),
      [
        ['vv-01', 'delete', false],
        ['vv-02', 'remove', true],
      ],
    );
    assert.deepEqual(removed, ['vv-02'], 'vv-01 keeps its bitmap with its metadata');
  });

  it('says done or FAILED per checkpoint, its actions below', async () => {
    const fixed = await fix(HV, 'uuid', PLAN);
    assert.deepEqual(cleanupLines(PLAN, fixed), [
      '  clean up vv-01 (broken, BITMAP_MISSING): done',
      '    delete checkpoint metadata vv-01 (broken): done',
      '    remove bitmap vv-01 from vda: done',
      '  clean up vv-02 (orphan): FAILED',
      '    remove bitmap vv-02 from vdb: FAILED: LIBVIRT_ERROR: device busy',
    ]);
    assert.deepEqual(cleanupLines(PLAN, null), [
      '  will clean up vv-01 (broken, BITMAP_MISSING)',
      '  will clean up vv-02 (orphan)',
    ]);
  });

  it('tells the lineage what it did: broken as found, deleted only where every action succeeded', async () => {
    const plan = {
      cleanup: ITEMS,
      markBroken: [{ checkpoint: 'vv-01', reason: 'BITMAP_INCONSISTENT' }],
    } as unknown as BackupPlan;
    const fixed = await fix(HV, 'uuid', plan);
    // a fake store that records what it is told (the real ones are the lineage package's)
    const marks: [string, string, string][] = [];
    const events: string[] = [];
    const store = {
      markCheckpoints: (
        _d: string,
        u: readonly { checkpoint: string; state: string; reason: string }[],
      ) => {
        marks.push(...u.map((x): [string, string, string] => [x.checkpoint, x.state, x.reason]));
        return Promise.resolve();
      },
      recordEvent: (e: { kind: string; message: string }) => {
        events.push(`${e.kind}: ${e.message}`);
        return Promise.resolve();
      },
    };
    await recordFix(store, 'uuid', plan, fixed, 1000);
    assert.deepEqual(marks, [
      ['vv-01', 'broken', 'BITMAP_INCONSISTENT'],
      // vv-02's bitmap removal failed: the lineage keeps it as it was, the next backup retries
      ['vv-01', 'deleted', 'BITMAP_MISSING'],
    ]);
    assert.deepEqual(events, [
      'chain-broken: checkpoint vv-01: BITMAP_INCONSISTENT (doctor --fix)',
    ]);
  });
});
