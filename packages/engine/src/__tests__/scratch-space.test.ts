import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';

import type { DiskInfo } from '@virtvault/libvirt';

import { hasErrorCode } from '@virtvault/core';

import {
  SCRATCH_MIN_FREE,
  heldBytes,
  imageFiles,
  scratchRoom,
  scratchVerdict,
} from '../scratch-space.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

function disk(target: string, file?: string, backing: string[] = []): DiskInfo {
  return {
    target,
    device: 'disk',
    ...(file !== undefined ? { source: { type: 'file', file } } : {}),
    readOnly: false,
    shareable: false,
    backingChain: backing.map((f) => ({ type: 'file', file: f })),
  };
}

describe('scratch folder room', () => {
  it('refuses a folder that cannot take a burst of writes, before anything is made', () => {
    assert.throws(
      () => scratchVerdict({ dir: '/s', free: 6 * MiB, held: 40 * GiB }),
      (e) => hasErrorCode(e, 'SCRATCH_NO_SPACE') && /\/s has 6\.0 MiB free/.test(String(e)),
    );
    // disks of unknown size (block, network): the fixed floor alone
    assert.throws(() => scratchVerdict({ dir: '/s', free: SCRATCH_MIN_FREE - 1, held: null }));
    assert.equal(scratchVerdict({ dir: '/s', free: SCRATCH_MIN_FREE, held: null }), null);
  });

  it('takes a small folder for small disks, and warns when the disks hold more than it has', () => {
    assert.equal(scratchVerdict({ dir: '/s', free: 20 * MiB, held: 16 * MiB }), null);
    assert.throws(() => scratchVerdict({ dir: '/s', free: 15 * MiB, held: 16 * MiB }));
    const note = scratchVerdict({ dir: '/s', free: 2 * GiB, held: 40 * GiB });
    assert.match(
      note ?? '',
      /^warning: the scratch folder \/s has 2\.0 GiB free, less than the 40\.0 GiB/,
    );
    assert.equal(scratchVerdict({ dir: '/s', free: 41 * GiB, held: 40 * GiB }), null);
  });

  it("counts the data of every disk's image and backing files, not block or network disks", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'vv-scratch-'));
    try {
      const [a, b, base] = ['a.img', 'b.img', 'base.img'].map((f) => path.join(dir, f));
      await writeFile(a ?? '', Buffer.alloc(1 * MiB, 1));
      await writeFile(b ?? '', Buffer.alloc(2 * MiB, 1));
      await writeFile(base ?? '', Buffer.alloc(3 * MiB, 1));
      const files = imageFiles([
        disk('vda', a, [base ?? '']),
        disk('vdb', b),
        disk('vdc'),
        { ...disk('vdd'), source: { type: 'block', dev: '/dev/null' } },
      ]);
      assert.equal(await heldBytes(files), 6 * MiB);
      assert.equal(await heldBytes(imageFiles([disk('vdc')])), null);
      // a folder not made yet is measured on the filesystem that will hold it
      const room = await scratchRoom(path.join(dir, 'not', 'yet'), files);
      assert.equal(room.held, 6 * MiB);
      assert.ok(room.free > 0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
