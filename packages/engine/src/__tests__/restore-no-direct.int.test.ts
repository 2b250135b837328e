/**
 * Restores onto a filesystem that refuses O_DIRECT (ramfs; tmpfs before Linux 6.6 did too): qemu-nbd
 * with `--cache=none` could not even open the new qcow2 there.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';

import { Repository, SnapshotWriter } from '@virtvault/repo';

import { takesDirectIo } from '../qemu-nbd.js';
import { restoreSnapshot } from '../restore.js';
import { COMMIT, DOMAIN } from './test-commit.js';

const run = promisify(execFile);
const MiB = 1024 * 1024;

describe('restore onto a filesystem without O_DIRECT', () => {
  let dir = '';
  let ramfs = '';
  let repo: Repository;
  const image = Buffer.alloc(4 * MiB);

  before(async () => {
    dir = await mkdtemp('/var/tmp/vv-nodirect-');
    ramfs = path.join(dir, 'ramfs');
    await mkdir(ramfs);
    await run('mount', ['-t', 'ramfs', 'ramfs', ramfs]);
    repo = await Repository.init(path.join(dir, 'repo'), { chunkSize: MiB, workers: 1 });
    randomBytes(MiB + 4096).copy(image, MiB / 2);
    const w = new SnapshotWriter(repo, { domain: DOMAIN, snapshotId: 's1' });
    await w.open();
    await w.startDisk({ target: 'vda', virtualSize: image.length, source: 's', format: 'raw' });
    for (let slot = 0; slot < 4; slot++) {
      await w.putSlot('vda', slot, image.subarray(slot * MiB, (slot + 1) * MiB));
    }
    await w.commit(COMMIT);
    await writeFile(path.join(dir, 'source.raw'), image);
  });

  after(async () => {
    await repo?.close();
    await run('umount', [ramfs]).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });

  it('is a filesystem that refuses O_DIRECT (the premise)', async () => {
    await writeFile(path.join(ramfs, 'probe'), '');
    assert.equal(await takesDirectIo(path.join(ramfs, 'probe'), false), false);
    await writeFile(path.join(dir, 'probe'), '');
    assert.equal(await takesDirectIo(path.join(dir, 'probe'), false), true);
  });

  for (const format of ['qcow2', 'raw'] as const) {
    it(`restores ${format} there, identical to the source`, async () => {
      const out = path.join(ramfs, format);
      const [disk] = await restoreSnapshot({
        repo,
        domainUuid: DOMAIN.uuid,
        snapshotId: 's1',
        outputDir: out,
        format,
      });
      assert.ok(disk !== undefined);
      const source = path.join(dir, 'source.raw');
      const r = await run('qemu-img', ['compare', '-f', format, '-F', 'raw', disk.path, source]);
      assert.match(r.stdout, /Images are identical/);
    });
  }
});
