import assert from 'node:assert/strict';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';

import { isOurJobSocket, makeJobDir, resolveDacLabel } from '../job-dir.js';

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
