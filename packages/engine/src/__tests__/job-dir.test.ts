import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';

import {
  isOurJobSocket,
  liveJobRunner,
  makeJobDir,
  removeJobDir,
  resolveDacLabel,
  sweepDeadJobDirs,
} from '../job-dir.js';

/** A process's start time as `/proc/<pid>/stat` gives it (field 22), as a runner file holds it. */
async function startTimeOf(pid: number): Promise<string | undefined> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
}

describe('job folders', () => {
  let dir = '';

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'vv-job-dir-'));
    await writeFile(`${dir}/passwd`, 'root:x:0:0::/root:/bin/sh\nlibvirt-qemu:x:64055:108::/:/x\n');
    await writeFile(`${dir}/group`, 'root:x:0:\nkvm:x:107:libvirt-qemu\n');
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("resolves libvirt's numeric labels and static labels that name the user", async () => {
    const files = { passwd: `${dir}/passwd`, group: `${dir}/group` };
    assert.deepEqual(await resolveDacLabel({ user: '+103', group: '+107' }, files), {
      uid: 103,
      gid: 107,
    });
    assert.deepEqual(await resolveDacLabel({ user: 'libvirt-qemu', group: 'kvm' }, files), {
      uid: 64055,
      gid: 107,
    });
    assert.equal(await resolveDacLabel({ user: 'nobody-here', group: 'kvm' }, files), null);
    assert.equal(await resolveDacLabel(undefined, files), null);
  });

  it('creates a private folder owned by the given user, replacing a leftover', async () => {
    const job = `${dir}/vv-job-1`;
    await makeJobDir(job, null);
    await writeFile(`${job}/old.qcow2`, 'x');
    const owner = process.getuid?.() === 0 ? { uid: 64055, gid: 107 } : null;
    await makeJobDir(job, owner);
    const st = await stat(job);
    assert.equal(st.mode & 0o777, 0o700);
    assert.equal(st.uid, owner?.uid ?? process.getuid?.());
    assert.equal(st.gid, owner?.gid ?? process.getgid?.());
    await assert.rejects(stat(`${job}/old.qcow2`), { code: 'ENOENT' });
  });

  it('tells a job still run by a live process from one left behind', async () => {
    const job = `${dir}/vv-job-2`;
    await makeJobDir(job, null);
    assert.equal(await liveJobRunner(job), process.pid, 'this process runs it');
    await removeJobDir(job);
    assert.equal(await liveJobRunner(job), null, 'gone with its folder');
    // a folder naming this process that no running backup of it owns: its job was left behind
    await makeJobDir(job, null);
    const runner = await readFile(`${job}/runner`, 'utf8');
    await removeJobDir(job);
    await mkdir(`${dir}/other`);
    await writeFile(`${dir}/other/runner`, runner);
    assert.equal(await liveJobRunner(`${dir}/other`), null, 'ours, but its backup is over');
    const child = spawn('sleep', ['30']);
    try {
      const pid = child.pid as number;
      const started = await startTimeOf(pid);
      await writeFile(`${dir}/other/runner`, `${pid} ${started}\n`);
      assert.equal(await liveJobRunner(`${dir}/other`), pid, 'another live process');
      await writeFile(`${dir}/other/runner`, `${pid} 1\n`);
      assert.equal(await liveJobRunner(`${dir}/other`), null, 'its pid, reused by a later process');
    } finally {
      child.kill();
    }
  });

  it('sweeps the job folders of dead runners only', async () => {
    const scratch = `${dir}/scratch`;
    await mkdir(scratch);
    await makeJobDir(`${scratch}/vv-job-mine`, null);
    await mkdir(`${scratch}/vv-job-dead`);
    await writeFile(`${scratch}/vv-job-dead/runner`, '999999999 1\n');
    await writeFile(`${scratch}/vv-job-dead/vda.qcow2`, 'scratch image');
    await mkdir(`${scratch}/vv-job-norunner`);
    await mkdir(`${scratch}/.vv-job-building`);
    await mkdir(`${scratch}/someone-else`);
    await writeFile(`${scratch}/vv-job-flat.sock`, '');
    const child = spawn('sleep', ['30']);
    try {
      const pid = child.pid as number;
      const started = await startTimeOf(pid);
      await mkdir(`${scratch}/vv-job-other`);
      await writeFile(`${scratch}/vv-job-other/runner`, `${pid} ${started}\n`);
      const removed = await sweepDeadJobDirs(scratch, 'vv-job-');
      assert.deepEqual(removed.map((p) => path.basename(p)).sort(), [
        'vv-job-dead',
        'vv-job-norunner',
      ]);
      assert.deepEqual((await readdir(scratch)).sort(), [
        '.vv-job-building',
        'someone-else',
        'vv-job-flat.sock',
        'vv-job-mine',
        'vv-job-other',
      ]);
    } finally {
      child.kill();
      await removeJobDir(`${scratch}/vv-job-mine`);
    }
  });

  it("knows our job sockets, in a job folder or flat, and no one else's", () => {
    const scratch = '/var/tmp/virtvault';
    assert.equal(
      isOurJobSocket('/var/tmp/virtvault/vv-job-01X/nbd.sock', scratch, 'vv-job-'),
      true,
    );
    assert.equal(isOurJobSocket('/var/tmp/virtvault/vv-job-01X.sock', scratch, 'vv-job-'), true);
    assert.equal(isOurJobSocket('/var/tmp/virtvault/other/nbd.sock', scratch, 'vv-job-'), false);
    assert.equal(isOurJobSocket('/var/tmp/vv-job-01X/nbd.sock', scratch, 'vv-job-'), false);
    assert.equal(isOurJobSocket('/tmp/virtnbdbackup.123', scratch, 'vv-job-'), false);
    assert.equal(isOurJobSocket('', scratch, 'vv-job-'), false);
  });
});
