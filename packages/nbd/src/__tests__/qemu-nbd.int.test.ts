import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { NbdClient, walkExtents } from '../index.js';
import type { MergedExtent } from '../index.js';
import type { MapEntry, Server } from './servers.js';
import { coalesce, nbdinfoMap, sha256File, startQemuNbd, tempDir } from './servers.js';

const MiB = 1024 * 1024;
const CONTEXTS = ['base:allocation', 'qemu:dirty-bitmap:b0', 'qemu:allocation-depth'];

function qemuIo(image: string, ...cmds: string[]): void {
  execFileSync('qemu-io', ['-f', 'qcow2', ...cmds.flatMap((c) => ['-c', c]), image]);
}

async function walkOne(c: NbdClient, ctx: string, workSize: number): Promise<MapEntry[]> {
  const out: MapEntry[] = [];
  for await (const e of walkExtents(c, { contexts: [ctx], workSize })) {
    out.push({ offset: e.offset, length: e.length, type: e.flags[0] ?? -1 });
  }
  return coalesce(out);
}

describe('qemu-nbd: qcow2 with a persistent dirty bitmap', () => {
  const tmp = tempDir();
  const image = join(tmp.dir, 'disk.qcow2');
  let server: Server;
  let client: NbdClient;

  before(async () => {
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', image, '96M']);
    qemuIo(image, 'write -P 0xab 1M 3M', 'write -P 0x11 20M 1M', 'write -P 0x5c 70M 64k');
    execFileSync('qemu-img', ['bitmap', '--add', image, 'b0']);
    qemuIo(image, 'write -P 0x22 40M 2M', 'write -P 0x33 2M 4M', 'write -P 0x44 90M 4k');
    server = startQemuNbd(tmp.dir, 'q', [
      '-r',
      '-t',
      '-e',
      '8',
      '-f',
      'qcow2',
      '-B',
      'b0',
      '-A',
      image,
    ]);
    client = await NbdClient.connect({ uri: server.uri, metaContexts: CONTEXTS });
  });

  after(async () => {
    await client?.close();
    server?.stop();
    tmp.cleanup();
  });

  it('negotiates structured replies, block sizes and all three contexts', () => {
    assert.equal(client.size, 96 * MiB);
    assert.equal(client.info.structuredReplies, true);
    assert.deepEqual([...client.info.metaContexts.keys()].sort(), [...CONTEXTS].sort());
    assert.ok(client.blockSize && client.blockSize.maximum >= MiB);
  });

  for (const ctx of CONTEXTS) {
    it(`extents of ${ctx} equal nbdinfo --map`, async () => {
      const expected = nbdinfoMap(server.uri, ctx === 'base:allocation' ? undefined : ctx);
      assert.ok(
        expected.length >= 3,
        'the image must be fragmented for this test to mean anything',
      );
      // Small work ranges force several block status rounds and merges.
      assert.deepEqual(await walkOne(client, ctx, 8 * MiB), expected);
    });
  }

  it('merged walk marks needed = dirty and not known to read as zeros', async () => {
    const merged: MergedExtent[] = [];
    const walk = walkExtents(client, {
      contexts: ['base:allocation', 'qemu:dirty-bitmap:b0'],
      workSize: 16 * MiB,
    });
    for await (const e of walk) {
      merged.push(e);
    }
    const needed = merged.filter((e) => e.needed).map((e) => [e.offset, e.length]);
    // The 4 KiB write dirties (and allocates) one 64 KiB cluster / bitmap granule.
    assert.deepEqual(needed, [
      [2 * MiB, 4 * MiB],
      [40 * MiB, 2 * MiB],
      [90 * MiB, 64 * 1024],
    ]);
    assert.equal(
      merged.reduce((n, e) => n + e.length, 0),
      client.size,
    );
  });

  it('reads the same bytes as qemu-img convert -O raw', async () => {
    const raw = join(tmp.dir, 'disk.raw');
    execFileSync('qemu-img', ['convert', '-f', 'qcow2', '-O', 'raw', image, raw]);
    const h = createHash('sha256');
    // Odd-sized reads cross request boundaries and holes.
    const step = 5 * MiB + 4097;
    for (let off = 0; off < client.size; off += step) {
      h.update(await client.read(off, Math.min(step, client.size - off)));
    }
    assert.equal(h.digest('hex'), sha256File(raw));
  });

  it('refuses writes on a read-only export with NBD_ERR_UNSUPPORTED', async () => {
    await assert.rejects(client.write(0, Buffer.alloc(512)), { code: 'NBD_ERR_UNSUPPORTED' });
  });

  it('fails to connect to an unknown export with NBD_ERR_EXPORT_UNKNOWN', async () => {
    await assert.rejects(NbdClient.connect({ socket: server.socket, exportName: 'nope' }), {
      code: 'NBD_ERR_EXPORT_UNKNOWN',
    });
  });

  it('fails when a requested context is not granted', async () => {
    await assert.rejects(
      NbdClient.connect({ socket: server.socket, metaContexts: ['qemu:dirty-bitmap:nope'] }),
      { code: 'NBD_ERR_META_CONTEXT_MISSING' },
    );
  });
});
