/**
 * The offline lock step with real qemu-img and qemu-nbd on plain qcow2 files (no libvirt): a
 * writable qemu-nbd stands in for a QEMU that started, and `isActive` for libvirt's domain state.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { access, mkdtemp, rm } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';

import { hasErrorCode } from '@virtvault/core';

import { holdImages, type HoldImagesOptions } from '../offline-images.js';
import { imageInfo } from '../qemu-img.js';
import { QemuNbd } from '../qemu-nbd.js';

const run = promisify(execFile);

async function bitmaps(image: string): Promise<string[]> {
  const info = JSON.parse(
    (await run('qemu-img', ['info', '-U', '--output=json', image])).stdout,
  ) as { 'format-specific'?: { data?: { bitmaps?: { name: string }[] } } };
  return (info['format-specific']?.data?.bitmaps ?? []).map((b) => b.name);
}

/** A write as a starting QEMU would need it: takes the write lock. */
async function tryWrite(image: string, format = 'qcow2'): Promise<string> {
  try {
    await run('qemu-io', ['-f', format, '-c', 'write -P 0x5a 0 64k', image]);
    return 'ok';
  } catch (e) {
    return (e as { stderr?: string }).stderr ?? String(e);
  }
}

const exists = (p: string) =>
  access(p).then(
    () => true,
    () => false,
  );

describe('holdImages: a stopped domain is locked against a start during its offline backup', () => {
  let dir = '';
  let images: { target: string; source: string; format: string }[] = [];

  before(async () => {
    dir = await mkdtemp('/var/tmp/vv-offline-');
    images = ['vda', 'vdb'].map((t) => ({
      target: t,
      source: `${dir}/${t}.qcow2`,
      format: 'qcow2',
    }));
    for (const i of images) {
      await run('qemu-img', ['create', '-q', '-f', 'qcow2', i.source, '16M']);
    }
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  function options(over: Partial<HoldImagesOptions>): HoldImagesOptions {
    return {
      domainName: 'vm',
      images,
      exportBitmap: null,
      newBitmap: { name: 'vv-new', targets: ['vda', 'vdb'] },
      socketFor: (t) => `${dir}/${t}.sock`,
      isActive: () => Promise.resolve(false),
      removeLive: () => Promise.reject(new Error('not running')),
      ...over,
    };
  }

  it('adds the new bitmap first, then holds every image: writes are refused until release', async () => {
    const held = await holdImages(
      options({ newBitmap: { name: 'vv-1', targets: ['vda', 'vdb'] } }),
    );
    try {
      for (const i of images) {
        assert.deepEqual(await bitmaps(i.source), ['vv-1']);
        assert.ok(await exists(held.sockets.get(i.target) as string));
        assert.match(await tryWrite(i.source), /Failed to get "write" lock/);
      }
    } finally {
      await held.release();
    }
    for (const i of images) {
      assert.equal(await tryWrite(i.source), 'ok');
      assert.equal(await exists(`${dir}/${i.target}.sock`), false);
    }
    await held.dropNewBitmaps();
    for (const i of images) {
      assert.deepEqual(await bitmaps(i.source), []);
    }
  });

  it("adds the first disk's bitmap last, that disk held meanwhile: a start stops at it, opening nothing", async () => {
    const seen: { target: string; firstDisk: string }[] = [];
    const first = images[0]?.source as string;
    const held = await holdImages(
      options({
        newBitmap: { name: 'vv-order', targets: ['vda', 'vdb'] },
        // what a start (a writer of the first disk) would meet just then
        beforeBitmapAdd: async (target) => {
          seen.push({ target, firstDisk: await tryWrite(first) });
        },
      }),
    );
    await held.release();
    await held.dropNewBitmaps();
    assert.deepEqual(
      seen.map((s) => s.target),
      ['vdb', 'vda'],
    );
    assert.match(seen[0]?.firstDisk ?? '', /Failed to get "write" lock/, 'held during vdb');
    assert.equal(seen[1]?.firstDisk, 'ok', 'free for its own bitmap, the last');
    for (const i of images) {
      assert.deepEqual(await bitmaps(i.source), []);
    }
  });

  it('adds and removes a bitmap whose name reads like an option as that very name', async () => {
    // qemu-img once took a trailing `--help` for its option: usage printed, exit 0, nothing done
    const held = await holdImages(options({ newBitmap: { name: '--help', targets: ['vda'] } }));
    await held.release();
    assert.deepEqual(await bitmaps(images[0]?.source as string), ['--help']);
    await held.dropNewBitmaps();
    assert.deepEqual(await bitmaps(images[0]?.source as string), []);
  });

  it('a parent bitmap gone since the plan: INCREMENTAL_REJECTED (the run looks again), no bitmap left', async () => {
    await assert.rejects(
      holdImages(
        options({ exportBitmap: 'vv-gone', newBitmap: { name: 'vv-2', targets: ['vda'] } }),
      ),
      (e) => hasErrorCode(e, 'INCREMENTAL_REJECTED') && /vv-gone/.test((e as Error).message),
    );
    for (const i of images) {
      assert.deepEqual(await bitmaps(i.source), []);
      assert.equal(await tryWrite(i.source), 'ok', 'nothing holds the image');
    }
  });

  it('a domain that started before the locks: DOMAIN_STARTED_DURING_BACKUP, no bitmap left', async () => {
    // the "started QEMU" takes vda once vdb has its bitmap: vda's own add fails on the lock
    let qemu: QemuNbd | null = null;
    const removedLive: string[] = [];
    try {
      await assert.rejects(
        holdImages(
          options({
            newBitmap: { name: 'vv-2', targets: ['vda', 'vdb'] },
            isActive: () => Promise.resolve(qemu !== null),
            beforeBitmapAdd: async (target) => {
              if (target === 'vda') {
                qemu = await QemuNbd.start({
                  image: images[0]?.source as string,
                  format: 'qcow2',
                  socket: `${dir}/qemu.sock`,
                  exportName: 'vda',
                  readOnly: false,
                });
              }
            },
            removeLive: async (target, bitmap) => {
              removedLive.push(`${target}/${bitmap}`);
              // what QMP block-dirty-bitmap-remove does inside the running QEMU
              await run('qemu-img', ['bitmap', '--remove', images[1]?.source as string, bitmap]);
            },
          }),
        ),
        (e: Error & { code?: string; cause?: Error }) => {
          assert.equal(e.code, 'DOMAIN_STARTED_DURING_BACKUP');
          assert.match(String(e.cause?.message), /write" lock/);
          return true;
        },
      );
    } finally {
      await (qemu as QemuNbd | null)?.close();
    }
    assert.deepEqual(removedLive, ['vdb/vv-2'], 'the bitmap added before the start is removed');
    for (const i of images) {
      assert.deepEqual(await bitmaps(i.source), []);
      assert.equal(await exists(`${dir}/${i.target}.sock`), false);
    }
  });

  it('a lock held by something else while the domain is still off is not blamed on a start', async () => {
    const holder = await QemuNbd.start({
      image: images[0]?.source as string,
      format: 'qcow2',
      socket: `${dir}/holder.sock`,
      exportName: 'vda',
      readOnly: false,
    });
    try {
      // vda, held against a start while vdb gets its bitmap, is found open for writing
      await assert.rejects(
        holdImages(options({ newBitmap: { name: 'vv-3', targets: ['vdb'] } })),
        (e: Error & { code?: string }) => e.code === 'DISK_IN_USE',
      );
    } finally {
      await holder.close();
    }
    assert.deepEqual(await bitmaps(images[1]?.source as string), [], 'vdb bitmap removed offline');
  });
});

describe('holdImages: raw images, which a read-only qemu-nbd does not lock', () => {
  let dir = '';
  let images: { target: string; source: string; format: string; full: boolean }[] = [];

  before(async () => {
    dir = await mkdtemp('/var/tmp/vv-offline-raw-');
    images = ['vda', 'vdb'].map((t) => ({
      target: t,
      source: `${dir}/${t}.raw`,
      format: 'raw',
      full: true,
    }));
    for (const i of images) {
      await run('qemu-img', ['create', '-q', '-f', 'raw', i.source, '16M']);
    }
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const options = (): HoldImagesOptions => ({
    domainName: 'vm',
    images,
    exportBitmap: null,
    newBitmap: null,
    socketFor: (t) => `${dir}/${t}.sock`,
    isActive: () => Promise.resolve(false),
    removeLive: () => Promise.reject(new Error('not running')),
  });

  it('is the premise: a read-only qemu-nbd alone lets a writer open a raw image', async () => {
    const alone = await QemuNbd.start({
      image: images[0]?.source as string,
      format: 'raw',
      socket: `${dir}/alone.sock`,
      exportName: 'vda',
      readOnly: true,
    });
    try {
      assert.equal(await tryWrite(images[0]?.source as string, 'raw'), 'ok');
    } finally {
      await alone.close();
    }
  });

  it('holds every raw image too: a start (a writer) is refused until release, readers are not', async () => {
    const held = await holdImages(options());
    try {
      for (const i of images) {
        assert.match(await tryWrite(i.source, 'raw'), /Failed to get "write" lock/);
        await run('qemu-img', ['info', i.source]);
      }
    } finally {
      await held.release();
    }
    for (const i of images) {
      assert.equal(await tryWrite(i.source, 'raw'), 'ok');
    }
  });

  it('a raw image another process has open for writing is DISK_IN_USE, and nothing stays held', async () => {
    const writer = await QemuNbd.start({
      image: images[1]?.source as string,
      format: 'raw',
      socket: `${dir}/writer.sock`,
      exportName: 'vdb',
      readOnly: false,
    });
    try {
      await assert.rejects(holdImages(options()), (e) => hasErrorCode(e, 'DISK_IN_USE'));
    } finally {
      await writer.close();
    }
    // vda was locked before vdb was refused: released with the rest
    assert.equal(await tryWrite(images[0]?.source as string, 'raw'), 'ok');
    assert.equal(await exists(`${dir}/vda.sock`), false);
  });
});

describe('a raw disk whose data starts like a qcow2 image', () => {
  let dir = '';
  let file = '';
  const sha = async () => (await run('sha256sum', [file])).stdout.split(' ')[0];

  before(async () => {
    dir = await mkdtemp('/var/tmp/vv-rawq-');
    // what a guest writing a qcow2 image onto its raw disk leaves at the disk's start
    file = `${dir}/vdc.raw`;
    await run('qemu-img', ['create', '-q', '-f', 'qcow2', file, '16M']);
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('is looked at as the raw disk it is configured as: no bitmaps, its own size', async () => {
    const probed = await imageInfo(file);
    assert.equal(probed.format, 'qcow2', 'probing is fooled');
    const told = await imageInfo(file, 'raw');
    assert.equal(told.format, 'raw');
    assert.equal(told.bitmapsSupported, false);
    assert.notEqual(told.virtualSize, probed.virtualSize);
  });

  it('never gets a bitmap written into it, even when asked', async () => {
    const before = await sha();
    const images = [{ target: 'vdc', source: file, format: 'raw' }];
    await assert.rejects(
      holdImages({
        domainName: 'vm',
        images,
        exportBitmap: null,
        newBitmap: { name: 'vv-x', targets: ['vdc'] },
        socketFor: (t) => `${dir}/${t}.sock`,
        isActive: () => Promise.resolve(false),
        removeLive: () => Promise.reject(new Error('not running')),
      }),
    );
    assert.equal(await sha(), before, "the guest's data is untouched");
  });
});

describe('qemu-nbd of a process that dies without closing it', () => {
  it('ends with it, leaving the image unlocked', async () => {
    const dir = await mkdtemp('/var/tmp/vv-pdeath-');
    try {
      const image = `${dir}/vda.qcow2`;
      await run('qemu-img', ['create', '-q', '-f', 'qcow2', image, '16M']);
      const engine = new URL('../qemu-nbd.js', import.meta.url).href;
      const script = `
        const { QemuNbd } = await import(${JSON.stringify(engine)});
        await QemuNbd.start({ socket: ${JSON.stringify(`${dir}/s.sock`)}, exportName: 'vda',
          format: 'qcow2', image: ${JSON.stringify(image)}, readOnly: true });
        process.stdout.write('serving\\n');
        setInterval(() => {}, 1000);`;
      const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (d: Buffer) => (String(d).includes('serving') ? resolve() : 0));
        child.on('exit', (code) => reject(new Error(`the child exited ${code}`)));
      });
      assert.match(await tryWrite(image), /Failed to get "write" lock/, 'served and locked');
      child.kill('SIGKILL');
      let result = '';
      for (let i = 0; i < 50 && result !== 'ok'; i++) {
        await new Promise((r) => setTimeout(r, 100));
        result = await tryWrite(image);
      }
      assert.equal(result, 'ok', 'the image is free again once its server ended');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
