/**
 * A host set up as Debian's libvirt-daemon-system does it: QEMU runs as `libvirt-qemu`, and libvirt
 * hands it its files. QEMU binds the pull backup's NBD socket itself, so the job's folder must be
 * its own; before job folders, every backup on such a host failed at its start.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, readdir, stat } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';

import { Lab } from '../lab/index.js';

import { assertIdentical, copyDisks, freshVm, Standalone, virsh } from './cli.js';

const run = promisify(execFile);
const MiB = 1024 * 1024;
const VM = 'e2e-uq';
const HOST = 'u';
const COPY = 'e2e-uq-copy';

describe('a host whose QEMU runs unprivileged (libvirt-qemu)', () => {
  const lab = new Lab({ env: { ...process.env, LAB_QEMU_USER: 'libvirt-qemu' } });
  const vv = new Standalone(lab);

  before(async () => {
    await lab.up([HOST]);
    await vv.setUp();
    await freshVm(lab, VM, { host: HOST });
    await lab.write(VM, 'vda', 0, 4 * MiB, { randomSeed: VM });
  });

  after(async () => {
    // the working folder goes even when removing a VM fails
    try {
      await lab.rmvm(COPY);
      await lab.rmvm(VM);
      await lab.down([HOST]);
    } finally {
      await vv.tearDown();
    }
  });

  it('QEMU runs as libvirt-qemu', async () => {
    const { stdout } = await run('ps', ['-C', 'qemu-system-x86_64', '-o', 'user:20=,args=']);
    const ours = stdout.split('\n').filter((l) => l.includes(`guest=${VM},`));
    assert.equal(ours.length, 1, stdout);
    assert.match(ours[0] ?? '', /^libvirt-qemu\s/);
  });

  it('a scratch folder QEMU cannot reach: a clear error, and nothing left behind', async () => {
    // the working folder is mkdtemp's 0700: libvirt-qemu cannot pass it to reach the scratch folder
    const r = await vv.cli(await vv.backupArgs(VM, HOST));
    assert.equal(r.code, 1, r.stdout);
    const err = (JSON.parse(r.stdout) as { error: { code: string; message: string } }).error;
    assert.equal(err.code, 'BACKUP_START_FAILED');
    assert.match(err.message, /Permission denied/);
    assert.match(err.message, /QEMU's user must be able to reach .*--scratch/);
    assert.deepEqual(await readdir(`${vv.dir}/scratch`), []);
    assert.equal((await virsh(lab, HOST, 'checkpoint-list', '--name', VM)).trim(), '');
    assert.match(await virsh(lab, HOST, 'domjobinfo', VM), /Job type:\s+None/);
    const list = await vv.cli(['snapshots', '--repo', vv.repo, '--domain', VM, '--json']);
    assert.deepEqual((JSON.parse(list.stdout) as { snapshots: unknown[] }).snapshots, []);
  });

  it('full and incremental restore identical; each job folder is gone after its run', async () => {
    await chmod(vv.dir, 0o711);
    const full = await vv.backup(VM, HOST);
    assert.equal(full.level, 'full');
    const fullCopies = await copyDisks(lab, VM, ['vda'], vv.dir, 'full');
    await lab.write(VM, 'vda', 16 * MiB, 2 * MiB, { randomSeed: `${VM}-2` });
    const inc = await vv.backup(VM, HOST);
    assert.equal(inc.level, 'incremental');
    assert.deepEqual(await readdir(`${vv.dir}/scratch`), []);
    const incCopies = await copyDisks(lab, VM, ['vda'], vv.dir, 'inc');
    for (const [json, copies] of [
      [full, fullCopies],
      [inc, incCopies],
    ] as const) {
      const restored = await vv.restore(VM, json.snapshot);
      await assertIdentical(restored.get('vda') as string, copies.get('vda') as string);
    }
  });

  it('a scratch folder it creates lets QEMU through under a strict umask (the agent unit: 0077)', async () => {
    const scratch = `${vv.dir}/umask/scratch`;
    await lab.write(VM, 'vda', 20 * MiB, MiB, { randomSeed: `${VM}-3` });
    const old = process.umask(0o077);
    try {
      const r = await vv.cli([...(await vv.backupArgs(VM, HOST)), '--scratch', scratch]);
      assert.equal(r.code, 0, r.stdout);
      assert.equal((JSON.parse(r.stdout) as { level: string }).level, 'incremental');
    } finally {
      process.umask(old);
    }
    for (const d of [`${vv.dir}/umask`, scratch]) {
      assert.equal((await stat(d)).mode & 0o777, 0o711, d);
    }
  });

  it('restore --define under a strict umask: the copy starts with its unprivileged QEMU', async () => {
    const out = `${vv.dir}/restored/copy`;
    const args = ['restore', '--repo', vv.repo, '--domain', VM, '--output', out, '--json'];
    const old = process.umask(0o077);
    try {
      const r = await vv.cli([...args, '--define', COPY, '--connect', await lab.uri(HOST)]);
      assert.equal(r.code, 0, r.stdout);
    } finally {
      process.umask(old);
    }
    await virsh(lab, HOST, 'start', COPY);
    assert.match(await virsh(lab, HOST, 'domstate', COPY), /running/);
  });
});
