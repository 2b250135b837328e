/**
 * A Ctrl-C at a terminal signals the whole foreground process group. qemu-img must not be in it:
 * killed while it has an image open for writing, it leaves every persistent bitmap of that image
 * marked in use (inconsistent). Here qemu-img is held in its NBD handshake by a server that never
 * answers, so it is certainly running when the group is signalled.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

describe('qemu-img and a Ctrl-C', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'vv-qemu-img-int-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps running when the command that started it is interrupted', async () => {
    const socket = path.join(dir, 'nbd.sock');
    const server = createServer();
    const accepted = once(server, 'connection') as Promise<[Socket]>;
    server.listen(socket);
    await once(server, 'listening');
    const engine = new URL('../qemu-img.js', import.meta.url).href;
    const script =
      `import { qemuImg } from '${engine}';` +
      `await qemuImg(['info', 'nbd+unix:///?socket=${socket}']).catch(() => undefined);`;
    // a group of its own, as a command run at a terminal is the foreground group's leader
    const command = spawn(process.execPath, ['--input-type=module', '-e', script], {
      detached: true,
      stdio: 'ignore',
    });
    try {
      const [conn] = await accepted;
      let closed = false;
      conn.on('close', () => (closed = true));
      conn.on('error', () => undefined);
      const exited = once(command, 'exit');
      process.kill(-(command.pid ?? 0), 'SIGINT');
      const [, signal] = (await exited) as [number | null, string | null];
      assert.equal(signal, 'SIGINT', 'the command itself was interrupted');
      // a qemu-img in the group died with it, and its connection closed at once
      await sleep(300);
      assert.equal(closed, false, 'qemu-img is still running, its connection open');
      conn.destroy();
    } finally {
      command.kill('SIGKILL');
      server.close();
    }
  });
});
