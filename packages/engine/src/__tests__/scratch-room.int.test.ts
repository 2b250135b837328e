/**
 * The hypervisor measures a scratch folder's room as the backup does: a disk's top image and its
 * backing files. `doctor` measured the top images alone, so for a thin overlay over a large base
 * it found room where the backup then refused the folder (SCRATCH_NO_SPACE).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';

import { Connection } from '@virtvault/libvirt';
import { Lab } from '@virtvault/testkit';

import { LibvirtHypervisor } from '../hypervisor.js';
import { heldBytes } from '../scratch-space.js';

const run = promisify(execFile);
const MiB = 1024 * 1024;
const VM = 'scratchroom1';

describe('the scratch room of a disk over a backing file', () => {
  const lab = new Lab();
  let conn: Connection;
  let work = '';
  let base = '';
  let overlay = '';

  before(async () => {
    await lab.up(['a']);
    await lab.rmvm(VM);
    await rm(await lab.image(VM, 'vda'), { force: true });
    await lab.vm(VM, '64M', { disks: 1 });
    base = await lab.image(VM, 'vda');
    await lab.write(VM, 'vda', 0, 16 * MiB, { randomSeed: 'room' });
    work = await mkdtemp('/var/tmp/vv-room-');
    overlay = `${work}/vda-overlay.qcow2`;
    // an external disk-only snapshot: the running disk becomes a thin overlay over the image
    await run('virsh', [
      '-q',
      '-c',
      await lab.uri('a'),
      'snapshot-create-as',
      VM,
      '--disk-only',
      '--no-metadata',
      '--diskspec',
      `vda,file=${overlay}`,
    ]);
    conn = await Connection.connect(await lab.uri('a'));
  });

  after(async () => {
    await conn?.close();
    await lab.rmvm(VM);
    await rm(work, { recursive: true, force: true });
  });

  it('counts the backing file, not the thin overlay alone', async () => {
    const hv = new LibvirtHypervisor(conn, 'a');
    const room = await hv.scratchRoom((await hv.observe(VM)).domain.uuid, ['vda'], work);
    const top = (await heldBytes([overlay])) ?? 0;
    const backing = (await stat(base)).blocks * 512;
    assert.ok(backing >= 16 * MiB, `the base holds the data written (${backing})`);
    assert.equal(room.held, top + backing);
    assert.ok(top < 4 * MiB, `the overlay is thin (${top})`);
  });
});
