import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type { BackupPlan, CleanupItem } from '@virtvault/core';

import { cleanupLines, fix, fixIncomplete } from '../commands/doctor-fix.js';

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
});
