/**
 * qemu-nbd that cannot be started at all (setpriv or qemu-nbd missing from PATH, a task limit
 * refusing the fork): a clear QEMU_NBD_FAILED, never an uncaught 'error' event that would end the
 * whole process (the agent with every job it runs).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { QemuNbd } from '../qemu-nbd.js';

describe('qemu-nbd that cannot be spawned', () => {
  let dir = '';
  const savedPath = process.env['PATH'];

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'vv-nbd-spawn-'));
    await writeFile(path.join(dir, 'disk.raw'), Buffer.alloc(65536));
  });
  after(async () => {
    process.env['PATH'] = savedPath;
    await rm(dir, { recursive: true, force: true });
  });

  it('fails QEMU_NBD_FAILED naming the cause, and leaves no socket', async () => {
    // an empty folder as PATH: the spawn itself fails with ENOENT
    process.env['PATH'] = path.join(dir, 'empty-path');
    const socket = path.join(dir, 'nbd.sock');
    try {
      await assert.rejects(
        QemuNbd.start({
          image: path.join(dir, 'disk.raw'),
          format: 'raw',
          socket,
          exportName: 'x',
          readOnly: true,
          startTimeoutMs: 2000,
        }),
        (e: Error & { code?: string }) => e.code === 'QEMU_NBD_FAILED' && /ENOENT/.test(e.message),
      );
    } finally {
      process.env['PATH'] = savedPath;
    }
    assert.equal(existsSync(socket), false);
  });
});
