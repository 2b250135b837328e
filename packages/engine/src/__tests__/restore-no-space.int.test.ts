/**
 * qcow2 restores that fail for want of room (real qemu-nbd on a small tmpfs), then one that has
 * room, all through one repository and so one chunk pool, as in the agent, which keeps a pool per
 * repository for its whole life: a failed restore must give back every shared region it held, or
 * a few failures leave the pool without regions and every later restore or backup waits forever.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';

import { Repository, SnapshotWriter } from '@virtvault/repo';

import { restoreSnapshot } from '../restore.js';
import { COMMIT, DOMAIN } from './test-commit.js';

const run = promisify(execFile);
const MiB = 1024 * 1024;
/** Slots of random data: three times what the small filesystem holds. */
const SLOTS = 12;

describe('qcow2 restores without room, then one with room', () => {
  let dir = '';
  let small = '';
  let repo: Repository;
  const image = randomBytes(SLOTS * MiB);

  before(async () => {
    dir = await mkdtemp('/var/tmp/vv-restore-nospace-');
    small = path.join(dir, 'small');
    await mkdir(small);
    await run('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', small]);
    repo = await Repository.init(path.join(dir, 'repo'), { chunkSize: MiB, workers: 1 });
    const w = new SnapshotWriter(repo, { domain: DOMAIN, snapshotId: 's1' });
    await w.open();
    await w.startDisk({ target: 'vda', virtualSize: image.length, source: 's', format: 'raw' });
    for (let slot = 0; slot < SLOTS; slot++) {
      await w.putSlot('vda', slot, image.subarray(slot * MiB, (slot + 1) * MiB));
    }
    await w.commit(COMMIT);
    await writeFile(path.join(dir, 'source.raw'), image);
  });

  // a pool short of regions may not close either: the mount is undone whatever happens
  after(async () => {
    await Promise.race([repo?.close(), new Promise((r) => setTimeout(r, 10_000).unref())]);
    await run('umount', [small]).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });

  /** A restore into `outputDir`; one still running after a minute is a hang, not a slow disk. */
  async function restore(outputDir: string) {
    let timer: NodeJS.Timeout | undefined;
    const hung = new Promise<never>((_, reject) => {
      const why = `restore into ${outputDir} hangs: the pool's regions were never given back`;
      timer = setTimeout(() => reject(new Error(why)), 60_000);
    });
    try {
      const done = restoreSnapshot({ repo, domainUuid: DOMAIN.uuid, snapshotId: 's1', outputDir });
      return await Promise.race([done, hung]);
    } finally {
      clearTimeout(timer);
    }
  }

  it('a filesystem with no room at all: RESTORE_NO_SPACE from the image create too', async () => {
    // full to the brim: `qemu-img create` cannot write even the qcow2 header
    const filler = path.join(small, 'filler');
    await run('dd', ['if=/dev/zero', `of=${filler}`, 'bs=64k']).catch(() => undefined);
    try {
      await assert.rejects(
        restore(path.join(small, 'out-full')),
        (e: Error & { code?: string }) => {
          assert.equal(e.code, 'RESTORE_NO_SPACE', e.message);
          assert.match(e.message, /No space left on device/);
          return true;
        },
      );
      assert.deepEqual(await readdir(small), ['filler'], 'nothing left behind');
    } finally {
      await rm(filler, { force: true });
    }
  });

  it('fails RESTORE_NO_SPACE each time, leaving nothing, and the pool still restores', async () => {
    // the pool has 10 regions; each failure held up to 4 of them for good before the fix
    for (let i = 0; i < 6; i++) {
      await assert.rejects(restore(path.join(small, `out-${i}`)), { code: 'RESTORE_NO_SPACE' });
      assert.deepEqual(await readdir(small), [], `failure ${i + 1} left nothing behind`);
    }
    const [disk] = await restore(path.join(dir, 'roomy'));
    assert.ok(disk !== undefined);
    const source = path.join(dir, 'source.raw');
    const r = await run('qemu-img', ['compare', '-f', 'qcow2', '-F', 'raw', disk.path, source]);
    assert.match(r.stdout, /Images are identical/);
  });
});
