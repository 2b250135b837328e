import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';

import { Lab } from './index.js';

const run = promisify(execFile);
const MiB = 1024 * 1024;

/** Reads `length` bytes at `offset` of a qcow2 image, through qemu-img, while QEMU may hold it. */
async function readImage(image: string, offset: number, length: number): Promise<Buffer> {
  const dir = await mkdtemp('/var/tmp/vv-labtest-');
  try {
    await run('qemu-img', ['convert', '-U', '-f', 'qcow2', '-O', 'raw', image, `${dir}/d.raw`]);
    const fh = await open(`${dir}/d.raw`, 'r');
    try {
      const buf = Buffer.alloc(length);
      await fh.read(buf, 0, length, offset);
      return buf;
    } finally {
      await fh.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function freshVm(lab: Lab, name: string, disks: number, transient = false): Promise<void> {
  await lab.rmvm(name);
  for (let i = 0; i < disks; i++) {
    await rm(await lab.image(name, `vd${String.fromCharCode(97 + i)}`), { force: true });
  }
  await lab.vm(name, '64M', { host: 'a', disks, transient });
}

describe('lab', () => {
  const lab = new Lab();

  before(async () => {
    await lab.up(['a', 'b']);
  });

  after(async () => {
    await lab.rmvm('labtest-mig');
    await lab.rmvm('labtest-kill');
  });

  it('keeps a guest write byte-exact across a live migration from host a to host b', async () => {
    await freshVm(lab, 'labtest-mig', 2);
    assert.equal(await lab.where('labtest-mig'), 'a');
    await lab.write('labtest-mig', 'vdb', 5 * MiB, MiB, { randomSeed: 42 });
    await lab.migrate('labtest-mig', 'a', 'b', 'live');
    assert.equal(await lab.where('labtest-mig'), 'b');
    // a write on the destination lands in the same image
    await lab.write('labtest-mig', 'vdb', 9 * MiB, 64 * 1024, { pattern: 0x5a });

    const image = await lab.image('labtest-mig', 'vdb');
    const expected = await readFile(await lab.dataFile(42, MiB));
    assert.equal(expected.length, MiB);
    assert.ok((await readImage(image, 5 * MiB, MiB)).equals(expected), 'random write read back');
    const pattern = await readImage(image, 9 * MiB, 64 * 1024);
    assert.ok(
      pattern.every((b) => b === 0x5a),
      'pattern write read back',
    );
    const untouched = await readImage(image, 0, MiB);
    assert.ok(
      untouched.every((b) => b === 0),
      'untouched range stays zero',
    );
  });

  it('kills qemu uncleanly and re-creates the domain as transient with the same uuid', async () => {
    await freshVm(lab, 'labtest-kill', 1);
    const uri = await lab.uri('a');
    const uuid = async () =>
      (await run('virsh', ['-q', '-c', uri, 'domuuid', 'labtest-kill'])).stdout.trim();
    const before = await uuid();
    await lab.killQemu('labtest-kill');
    const state = (await run('virsh', ['-q', '-c', uri, 'domstate', 'labtest-kill'])).stdout;
    assert.match(state, /shut off/);
    await lab.recreate('labtest-kill');
    const info = (await run('virsh', ['-q', '-c', uri, 'dominfo', 'labtest-kill'])).stdout;
    assert.match(info, /State:\s+running/);
    assert.match(info, /Persistent:\s+no/);
    assert.equal(await uuid(), before);
  });
});
