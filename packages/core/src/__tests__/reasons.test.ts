import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { CHAIN_BREAKERS } from '../chain/breakers.js';
import { classifyLibvirtMessage } from '../chain/libvirt-errors.js';
import { REASON_CODES, REASONS, explainReason, isReasonCode } from '../model/reasons.js';
import { fromQemuImgBitmap, fromQmpBitmap } from '../model/observed.js';

describe('reason catalogue', () => {
  it('has a plain-words explanation for every code', () => {
    assert.ok(REASON_CODES.length >= 15);
    for (const code of REASON_CODES) {
      assert.match(code, /^[A-Z_]+$/);
      assert.ok(explainReason(code).length > 40, code);
      assert.ok(['full', 'repair', 'info'].includes(REASONS[code].effect));
    }
    assert.ok(isReasonCode('NO_PARENT'));
    assert.ok(!isReasonCode('toString'));
  });

  it('maps every peers.md breaker B1..B11 to catalogue codes and a decision', () => {
    assert.deepEqual(
      CHAIN_BREAKERS.map((b) => b.id),
      Array.from({ length: 11 }, (_, i) => `B${i + 1}`),
    );
    for (const b of CHAIN_BREAKERS) {
      assert.ok(b.reasons.length > 0 && b.reasons.every(isReasonCode), b.id);
      assert.ok(b.decision.length > 0);
    }
  });
});

describe('classifyLibvirtMessage (lab.md section 7 strings)', () => {
  const table: [string, string | null][] = [
    [
      "checkpoint inconsistent: missing or broken bitmap 'cp1' for disk 'vda'",
      'BITMAP_INCONSISTENT',
    ],
    ["internal error: bitmap 'cp2' not found in backing chain of 'vda'", 'BITMAP_MISSING'],
    [
      "unable to execute QEMU command 'transaction': Bitmap already exists: vv-1",
      'BITMAP_INCONSISTENT',
    ],
    [
      "Domain checkpoint not found: Checkpoint 'cp2' for incremental backup of disk 'vda' not found",
      'CHECKPOINT_REDEFINED',
    ],
    ['invalid argument: parent cp1 for moment cp2 not found', 'REDEFINE_FAILED'],
    ['invalid argument: definition for checkpoint vv-1 must use uuid 4798e474', 'REDEFINE_FAILED'],
    ['Cannot store dirty bitmaps in qcow2 v2 files', 'BITMAPS_UNSUPPORTED'],
    ['Requested operation is not valid: domain is not running', null],
  ];
  for (const [message, code] of table) {
    it(message, () => assert.equal(classifyLibvirtMessage(message), code));
  }
});

describe('bitmap views', () => {
  it('reads qemu-img flags of a stopped image', () => {
    assert.deepEqual(fromQemuImgBitmap('a', ['auto']), {
      name: 'a',
      recording: true,
      persistent: true,
      inconsistent: false,
      busy: false,
    });
    const b = fromQemuImgBitmap('b', ['in-use', 'auto']);
    assert.equal(b.inconsistent, true);
    assert.equal(fromQemuImgBitmap('c', []).recording, false);
  });

  it('reads QMP dirty-bitmaps, where inconsistent is omitted when false', () => {
    const q = { name: 'cp0', recording: false, persistent: true, busy: false, inconsistent: true };
    assert.equal(fromQmpBitmap(q).inconsistent, true);
    const healthy = { name: 'cp0', recording: true, persistent: true, busy: false };
    assert.equal(fromQmpBitmap(healthy).inconsistent, false);
  });
});
