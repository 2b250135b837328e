/**
 * Writes that fail for want of room (a real tmpfs of 64 KiB): nothing half-written is left, neither
 * a temp nor a partial file in place.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';

import { createFileAtomic, writeFileAtomic, writeTempFor } from '../fs-util.js';

const run = promisify(execFile);
const big = 'x'.repeat(1024 * 1024);

describe('a full filesystem', () => {
  let dir = '';
  let small = '';

  before(async () => {
    dir = await mkdtemp('/var/tmp/vv-full-');
    small = path.join(dir, 'small');
    await mkdir(small);
    await run('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', small]);
  });

  after(async () => {
    await run('umount', [small]).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });

  it('fails an atomic write with ENOSPC and leaves no temp', async () => {
    await assert.rejects(writeFileAtomic(path.join(small, 'index'), big), { code: 'ENOSPC' });
    assert.deepEqual(await readdir(small), []);
  });

  it('fails an exclusive create the same way, with or without hard links', async () => {
    const target = path.join(small, 'config.json');
    await assert.rejects(createFileAtomic(target, big), { code: 'ENOSPC' });
    assert.deepEqual(await readdir(small), []);
    // no hard links: the file is created in place, and a failed write must not leave it half done
    const noLinks = () => Promise.reject(Object.assign(new Error('no links'), { code: 'EPERM' }));
    await assert.rejects(createFileAtomic(target, big.slice(0, 48 * 1024), noLinks), {
      code: 'ENOSPC',
    });
    assert.deepEqual(await readdir(small), []);
  });

  it('removes a lease temp whose write failed', async () => {
    await assert.rejects(writeTempFor(path.join(small, 'lease'), big), { code: 'ENOSPC' });
    assert.deepEqual(await readdir(small), []);
  });
});
