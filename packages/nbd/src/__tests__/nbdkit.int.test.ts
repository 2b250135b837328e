import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { NbdClient, walkExtents } from '../index.js';
import type { MapEntry, Server } from './servers.js';
import {
  coalesce,
  nbdinfoMap,
  sha256File,
  startNbdkit,
  startNbdkitTcp,
  tempDir,
} from './servers.js';

const MiB = 1024 * 1024;

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as AddressInfo;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

describe('nbdkit sparse-random', () => {
  const tmp = tempDir();
  let server: Server;
  let client: NbdClient;

  before(async () => {
    server = startNbdkit(tmp.dir, 'sr', [
      'sparse-random',
      '64M',
      'seed=4242',
      'runlength=131072',
      'percent=20',
    ]);
    client = await NbdClient.connect({
      socket: server.socket,
      metaContexts: ['base:allocation'],
      connections: 4,
      maxInFlight: 8,
      requestSize: 1 * MiB,
    });
  });

  after(async () => {
    await client?.close();
    server?.stop();
    tmp.cleanup();
  });

  it('uses several connections because nbdkit advertises multi-conn', () => {
    assert.equal(client.connections, 4);
  });

  it('extents equal nbdinfo --map', async () => {
    const got: MapEntry[] = [];
    for await (const e of walkExtents(client, {
      contexts: ['base:allocation'],
      workSize: 32 * MiB,
    })) {
      got.push({ offset: e.offset, length: e.length, type: e.flags[0] ?? -1 });
    }
    const want = nbdinfoMap(server.uri);
    assert.ok(want.length > 10);
    assert.deepEqual(coalesce(got), want);
  });

  it('reads the same bytes as nbdcopy', async () => {
    const file = join(tmp.dir, 'copy.raw');
    execFileSync('nbdcopy', [server.uri, file], { timeout: 30_000 });
    const h = createHash('sha256');
    const jobs: Promise<Uint8Array>[] = [];
    for (let off = 0; off < client.size; off += 16 * MiB) {
      jobs.push(client.read(off, 16 * MiB));
    }
    for (const j of jobs) {
      h.update(await j);
    }
    assert.equal(h.digest('hex'), sha256File(file));
  });
});

describe('nbdkit memory (read-write, TCP, URI)', () => {
  const tmp = tempDir();
  let server: Server;
  let port: number;
  let client: NbdClient;

  before(async () => {
    port = await freePort();
    server = startNbdkitTcp(tmp.dir, 'mem', port, ['memory', '64M']);
    client = await NbdClient.connect({ uri: `nbd://127.0.0.1:${port}/`, connections: 2 });
  });

  after(async () => {
    await client?.close();
    server?.stop();
    tmp.cleanup();
  });

  it('writes, reads back, zeroes, trims and flushes', async () => {
    const data = Buffer.alloc(3 * MiB + 123);
    for (let i = 0; i < data.length; i++) {
      data[i] = (i * 7 + 3) & 0xff;
    }
    await client.write(MiB - 5, data);
    await client.flush();
    assert.deepEqual(Buffer.from(await client.read(MiB - 5, data.length)), data);
    await client.writeZeroes(MiB, 4096, { fastZero: client.hasFlag(1 << 11) });
    await client.trim(2 * MiB, MiB);
    const back = Buffer.from(await client.read(MiB - 5, data.length));
    const expect = Buffer.from(data);
    expect.fill(0, 5, 5 + 4096);
    expect.fill(0, MiB + 5, 2 * MiB + 5);
    assert.deepEqual(back, expect);
  });

  it('writes through one client are visible through another (multi-conn)', async () => {
    await client.write(10 * MiB, Buffer.from('virtvault'));
    await client.flush();
    const other = await NbdClient.connect({ host: '127.0.0.1', port });
    try {
      assert.equal(Buffer.from(await other.read(10 * MiB, 9)).toString(), 'virtvault');
    } finally {
      await other.close();
    }
  });

  it('rejects out-of-range requests without sending them', async () => {
    await assert.rejects(client.read(client.size - 1, 2), { code: 'NBD_ERR_INVALID_ARGUMENT' });
  });

  it('close() is idempotent and later calls fail with NBD_ERR_CLOSED', async () => {
    const c = await NbdClient.connect({ host: '127.0.0.1', port });
    await Promise.all([c.close(), c.close()]);
    await c.close();
    await assert.rejects(c.read(0, 1), { code: 'NBD_ERR_CLOSED' });
  });
});

describe('nbdkit error filter (injected EIO)', () => {
  const tmp = tempDir();
  let server: Server;

  before(() => {
    server = startNbdkit(tmp.dir, 'err', [
      '--filter=error',
      'memory',
      '16M',
      'error=EIO',
      'error-pread-rate=100%',
    ]);
  });

  after(() => {
    server?.stop();
    tmp.cleanup();
  });

  it('maps the server error to NBD_ERR_SERVER / NBD_EIO and keeps the connection usable', async () => {
    await using client = await NbdClient.connect({ socket: server.socket });
    for (let i = 0; i < 3; i++) {
      await assert.rejects(client.read(i * 4096, 4096), (e: unknown) => {
        assert.equal((e as { code?: string }).code, 'NBD_ERR_SERVER');
        assert.equal((e as { errnoName?: string }).errnoName, 'NBD_EIO');
        return true;
      });
    }
    // Writes are not failed by this filter setup: the connection still works.
    await client.write(0, Buffer.from('ok'));
  });
});

describe('nbdkit with a minimum block size it enforces', () => {
  const tmp = tempDir();
  let server: Server;

  before(() => {
    server = startNbdkit(tmp.dir, 'bs', [
      '--filter=blocksize-policy',
      'pattern',
      '1M',
      'blocksize-minimum=4096',
      'blocksize-preferred=4096',
      'blocksize-error-policy=error',
    ]);
  });

  after(() => {
    server?.stop();
    tmp.cleanup();
  });

  it('gets requests of whole minimum blocks, from a requestSize that is not', async () => {
    const client = await NbdClient.connect({ socket: server.socket, requestSize: 10_000 });
    try {
      assert.equal(client.blockSize?.minimum, 4096);
      assert.equal(client.requestSize, 8192);
      // split into 8 KiB requests: each aligned, so the server takes every one
      const data = await client.read(0, 64 * 1024);
      assert.equal(data.length, 64 * 1024);
      // the pattern plugin: each 8-byte word is its own offset, big-endian
      assert.equal(Buffer.from(data).readBigUInt64BE(40_000), 40_000n);
    } finally {
      await client.close();
    }
  });
});
