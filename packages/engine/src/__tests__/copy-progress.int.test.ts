/**
 * A disk's progress with real qemu-nbd: its total is known early in the copy (the bar appears
 * then), not only once the copy's own walk of the extents ends with the copy.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';

import { NbdClient } from '@virtvault/nbd';
import { Repository, SnapshotWriter } from '@virtvault/repo';

import { BASE_ALLOCATION, copyDisk, type DiskProgress } from '../disk-copy.js';
import { QemuNbd } from '../qemu-nbd.js';
import { DOMAIN } from './test-commit.js';

const run = promisify(execFile);
const KiB = 1024;
const MiB = 1024 * KiB;
const SLOT = 64 * KiB;
const SIZE = 64 * MiB;

describe('copyDisk: progress', () => {
  let work: string;
  let server: QemuNbd;

  before(async () => {
    work = await mkdtemp('/var/tmp/vv-progress-');
    const image = `${work}/disk.raw`;
    await run('qemu-img', ['create', '-f', 'raw', image, String(SIZE)]);
    // 4 KiB of data in every slot: 1,024 slots to read, far more than the copy holds at once
    const cmds = [];
    for (let off = 0; off < SIZE; off += SLOT) {
      cmds.push('-c', `write -P ${(off / SLOT) % 250} ${off} 4k`);
    }
    await run('qemu-io', ['-f', 'raw', ...cmds, image]);
    server = await QemuNbd.start({
      image,
      format: 'raw',
      socket: `${work}/nbd.sock`,
      exportName: 'vda',
      readOnly: true,
    });
  });

  after(async () => {
    await server?.close();
    await rm(work, { recursive: true, force: true });
  });

  it('reports the final total early in the copy, never changing it', async () => {
    const repo = await Repository.init(`${work}/repo`, { chunkSize: SLOT, workers: 1 });
    const nbd = await NbdClient.connect({
      socket: `${work}/nbd.sock`,
      exportName: 'vda',
      metaContexts: [BASE_ALLOCATION],
    });
    const seen: DiskProgress[] = [];
    try {
      const writer = new SnapshotWriter(repo, {
        domain: DOMAIN,
        snapshotId: 'p1',
      });
      await writer.open();
      await writer.startDisk({ target: 'vda', virtualSize: SIZE, source: '/d', format: 'raw' });
      const read = await copyDisk({
        nbd,
        writer,
        target: 'vda',
        slotSize: SLOT,
        mode: { kind: 'full' },
        onProgress: (p) => seen.push({ ...p }),
        countAfterMs: 0,
      });
      await writer.abort();
      assert.equal(read, (SIZE / SLOT) * 4 * KiB, 'only the data is read');
      const first = seen[0];
      assert.ok(first !== undefined, 'progress was reported');
      assert.ok(
        first.bytesRead <= read / 4,
        `the first report came early: ${first.bytesRead} of ${read} read`,
      );
      assert.deepEqual(new Set(seen.map((p) => p.bytesToRead)), new Set([read]));
      assert.equal(seen.at(-1)?.bytesRead, read);
    } finally {
      await nbd.close();
      await repo.close();
    }
  });
});
