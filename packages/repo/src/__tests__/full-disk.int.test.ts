/**
 * Writes that fail for want of room (a real tmpfs of 64 KiB): nothing half-written is left, neither
 * a temp nor a partial file in place.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
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
    // no hard links: the file is written in place; a filler takes the room first, so that write
    // fails part way and must not leave a half-written file
    const filler = path.join(small, 'filler');
    const fillThenRefuse = async (tmp: string): Promise<void> => {
      await rm(tmp);
      await writeFile(filler, 'f'.repeat(40 * 1024));
      throw Object.assign(new Error('no links'), { code: 'EPERM' });
    };
    await assert.rejects(createFileAtomic(target, big.slice(0, 32 * 1024), fillThenRefuse), {
      code: 'ENOSPC',
    });
    assert.deepEqual(await readdir(small), ['filler']);
    await rm(filler);
  });

  it('frees its temp before it writes in place, so that write has the room of both', async () => {
    const target = path.join(small, 'config.json');
    const data = big.slice(0, 40 * 1024);
    const noLinks = () => Promise.reject(Object.assign(new Error('no links'), { code: 'EPERM' }));
    assert.equal(await createFileAtomic(target, data, noLinks), true);
    assert.deepEqual(await readdir(small), ['config.json']);
    assert.equal(await readFile(target, 'utf8'), data);
    await rm(target);
  });

  it('removes a lease temp whose write failed', async () => {
    await assert.rejects(writeTempFor(path.join(small, 'lease'), big), { code: 'ENOSPC' });
    assert.deepEqual(await readdir(small), []);
  });
});
