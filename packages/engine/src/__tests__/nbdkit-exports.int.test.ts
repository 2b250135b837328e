/**
 * Exports served by real nbdkit, exactly as told. A hole the server does not promise reads as
 * zeros (NBD_STATE_HOLE without NBD_STATE_ZERO, which the NBD spec allows, e.g. a sparse file over
 * a backing file) is read and stored as the data it holds, never assumed to be zeros; an export
 * whose size is not the planned one is refused.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';

import { hasErrorCode } from '@virtvault/core';
import { NbdClient } from '@virtvault/nbd';
import { Repository, SnapshotReader, SnapshotWriter } from '@virtvault/repo';

import { BASE_ALLOCATION, copyDisk, copyExport } from '../disk-copy.js';
import { COMMIT, DOMAIN } from './test-commit.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const SLOT = 64 * KiB;
const SIZE = 2 * MiB;
const BYTE = 0xab;

/** Waits for nbdkit's socket to appear. */
async function waitForSocket(path: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (
      await stat(path).then(
        () => true,
        () => false,
      )
    ) {
      return;
    }
    await sleep(50);
  }
  throw new Error(`nbdkit did not create ${path}`);
}

describe('copying exports nbdkit serves as told', () => {
  let work: string;
  let nbdkit: ChildProcess;
  const socket = (): string => `${work}/nbd.sock`;

  before(async () => {
    work = await mkdtemp('/var/tmp/vv-hole-');
    // every byte is 0xab, yet the first half is reported as a hole (not zero), the second as a
    // hole that reads as zeros; nbdkit's eval plugin serves exactly what it is told
    nbdkit = spawn(
      'nbdkit',
      [
        '-f',
        '-U',
        socket(),
        'eval',
        `get_size=echo ${SIZE}`,
        `pread=head -c $3 /dev/zero | tr '\\0' '\\${BYTE.toString(8)}'`,
        'can_extents=exit 0',
        `extents=echo 0 ${SIZE / 2} hole; echo ${SIZE / 2} ${SIZE / 2} hole,zero`,
      ],
      { stdio: 'ignore' },
    );
    await waitForSocket(socket());
  });

  after(async () => {
    nbdkit?.kill('SIGTERM');
    await rm(work, { recursive: true, force: true });
  });

  it('reads the hole and stores its bytes', async () => {
    const repo = await Repository.init(`${work}/repo`, { chunkSize: SLOT, workers: 1 });
    const nbd = await NbdClient.connect({
      socket: socket(),
      exportName: '',
      metaContexts: [BASE_ALLOCATION],
    });
    try {
      const writer = new SnapshotWriter(repo, { domain: DOMAIN, snapshotId: 'h1' });
      await writer.open();
      await writer.startDisk({ target: 'vda', virtualSize: SIZE, source: '/d', format: 'raw' });
      const read = await copyDisk({
        nbd,
        writer,
        target: 'vda',
        slotSize: SLOT,
        mode: { kind: 'full' },
      });
      await writer.flushDisk('vda');
      await writer.commit(COMMIT);
      assert.equal(read, SIZE / 2, 'the hole without the zero flag is read, the zero one is not');

      const reader = new SnapshotReader(repo, DOMAIN.uuid, 'h1');
      await reader.open();
      const got = Buffer.alloc(SIZE);
      try {
        for await (const e of reader.readDisk('vda')) {
          if (!e.zero) {
            e.data.copy(got, e.offset);
          }
        }
      } finally {
        await reader.close();
      }
      assert.ok(
        got.subarray(0, SIZE / 2).every((b) => b === BYTE),
        'the hole kept its bytes',
      );
      assert.ok(
        got.subarray(SIZE / 2).every((b) => b === 0),
        'the zero hole restores as zeros',
      );
    } finally {
      await nbd.close();
      await repo.close();
    }
  });

  it('refuses an export whose size is not the one the backup was planned with (DISKS_CHANGED)', async () => {
    const repo = await Repository.init(`${work}/repo-resized`, { chunkSize: SLOT, workers: 1 });
    try {
      const writer = new SnapshotWriter(repo, { domain: DOMAIN, snapshotId: 'r1' });
      await writer.open();
      // planned at half the size the export has now (the disk grown since the look)
      await writer.startDisk({ target: 'vda', virtualSize: SIZE / 2, source: '/d', format: 'raw' });
      const copy = copyExport(
        { writer, slotSize: SLOT },
        { socket: socket(), exportName: '', target: 'vda', bitmapContext: null },
      );
      await assert.rejects(copy, (e) => hasErrorCode(e, 'DISKS_CHANGED'));
      await writer.abort();
    } finally {
      await repo.close();
    }
  });
});
