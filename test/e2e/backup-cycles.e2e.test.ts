import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { access, readdir, stat } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';

import { Lab } from '../lab/index.js';

import { assertIdentical, copyDisks, freshVm, Standalone, virsh, type BackupJson } from './cli.js';

const run = promisify(execFile);
const exists = (p: string) =>
  access(p).then(
    () => true,
    () => false,
  );
const MiB = 1024 * 1024;
const K64 = 64 * 1024;

/** Writes of one round: a contiguous run on each disk and scattered 64 KiB writes. */
async function writeRound(lab: Lab, vm: string, disks: string[], round: number): Promise<void> {
  for (const [i, d] of disks.entries()) {
    await lab.write(vm, d, (8 + 8 * round + i) * MiB, 2 * MiB, {
      randomSeed: `${vm}-${round}-${d}`,
    });
    for (const slot of [1, 5, 13]) {
      await lab.write(vm, d, slot * 4 * MiB + round * K64, K64, { pattern: 0x10 + round });
    }
  }
}

interface Taken {
  json: BackupJson;
  copies: Map<string, string>;
}

describe('standalone backups through the virtvault binary', () => {
  const lab = new Lab();
  const vv = new Standalone(lab);

  before(async () => {
    await lab.up(['a']);
    await vv.setUp();
  });

  after(async () => {
    // the working folder goes even when removing a VM fails
    try {
      for (const vm of ['e2e-run', 'e2e-off', 'e2e-tr', 'e2e-raw', 'e2e-run-copy']) {
        await lab.rmvm(vm);
      }
    } finally {
      await vv.tearDown();
    }
  });

  async function restoreAll(vm: string, taken: Taken[]): Promise<void> {
    for (const t of taken) {
      const restored = await vv.restore(vm, t.json.snapshot);
      for (const [disk, copy] of t.copies) {
        await assertIdentical(restored.get(disk) as string, copy);
      }
    }
  }

  it('running VM, two disks: full, inc, diff, inc; each snapshot restores identical', async () => {
    const vm = 'e2e-run';
    const disks = ['vda', 'vdb'];
    await freshVm(lab, vm, { disks: 2 });
    const taken: Taken[] = [];
    const levels = ['full', 'inc', 'diff', 'inc'];
    for (const [round, level] of levels.entries()) {
      await writeRound(lab, vm, disks, round);
      const json = await vv.backup(vm, 'a', level);
      taken.push({ json, copies: await copyDisks(lab, vm, disks, vv.dir, String(round)) });
    }
    assert.deepEqual(
      taken.map((t) => t.json.level),
      ['full', 'incremental', 'differential', 'incremental'],
    );
    assert.ok(taken[0]?.json.reasons.includes('NO_PARENT'));
    // after the first run, each started from the lineage the one before left (and restores below)
    assert.deepEqual(
      taken.map((t) => t.json.earlyStart),
      ['none', 'kept', 'kept', 'kept'],
    );
    assert.equal(taken[2]?.json.parent, taken[0]?.json.snapshot, 'differential builds on the full');
    assert.equal(taken[3]?.json.parent, taken[2]?.json.snapshot);
    // the full skips what the export promises reads as zeros (a hole not so promised is read)
    const full = taken[0]?.json.disks.find((d) => d.target === 'vda');
    assert.ok(full !== undefined && full.bytesRead < 32 * MiB, `full read ${full?.bytesRead}`);
    // an incremental reads what changed, not whole slots
    const inc = taken[1]?.json.disks.find((d) => d.target === 'vda');
    assert.ok(inc !== undefined && inc.bytesRead <= 2 * MiB + 3 * K64, `read ${inc?.bytesRead}`);
    await restoreAll(vm, taken);
    const last = taken[3] as Taken;
    const raw = await vv.restore(vm, last.json.snapshot, 'raw');
    await assertIdentical(raw.get('vda') as string, last.copies.get('vda') as string, 'raw');

    // --define: a new domain on the restored disks, the original untouched
    const out = `${vv.dir}/restore-defined`;
    const args = ['restore', '--repo', vv.repo, '--domain', vm, '--output', out, '--json'];
    // a name in use is refused before a byte is restored
    const inUse = await vv.cli([...args, '--define', vm, '--connect', await lab.uri('a')]);
    assert.equal(inUse.code, 1, inUse.stdout);
    const err = (JSON.parse(inUse.stdout) as { error: { code: string } }).error;
    assert.equal(err.code, 'RESTORE_TARGET_EXISTS');
    await assert.rejects(stat(out), { code: 'ENOENT' });
    // a relative --output: the new domain must still name its disks by absolute paths
    const relative = args.map((a) => (a === out ? 'restore-defined' : a));
    const r = await vv.cli(
      [...relative, '--define', 'e2e-run-copy', '--connect', await lab.uri('a')],
      vv.dir,
    );
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const doc = JSON.parse(r.stdout) as {
      defined: { name: string; uuid: string; changes: string[] };
    };
    assert.notEqual(doc.defined.uuid, last.json.domain.uuid);
    // the lab's VMs reach nothing of the host's but their disks: nothing else to leave out
    assert.deepEqual(doc.defined.changes, []);
    const blk = await virsh(lab, 'a', 'domblklist', 'e2e-run-copy');
    assert.match(blk, new RegExp(`vda\\s+${out}/vda.qcow2`));
    assert.match(await virsh(lab, 'a', 'domstate', vm), /running/);
    await lab.rmvm('e2e-run-copy');
  });

  it('stopped VM: full, inc, diff, inc from the persistent bitmaps; each restores identical', async () => {
    const vm = 'e2e-off';
    await freshVm(lab, vm, { disks: 1 });
    const taken: Taken[] = [];
    for (const [round, level] of ['full', 'inc', 'diff', 'inc'].entries()) {
      if (round > 0) {
        await virsh(lab, 'a', 'start', vm);
      }
      await writeRound(lab, vm, ['vda'], round);
      await virsh(lab, 'a', 'destroy', vm);
      const json = await vv.backup(vm, 'a', level);
      assert.ok(json.reasons.includes('DOMAIN_SHUT_OFF'), json.reasons.join());
      taken.push({ json, copies: await copyDisks(lab, vm, ['vda'], vv.dir, String(round)) });
    }
    assert.deepEqual(
      taken.map((t) => t.json.level),
      ['full', 'incremental', 'differential', 'incremental'],
    );
    const inc = taken[3]?.json.disks[0];
    assert.ok(inc !== undefined && inc.bytesRead <= 2 * MiB + 3 * K64, `read ${inc?.bytesRead}`);
    await restoreAll(vm, taken);
  });

  it('a raw disk and a cdrom: the raw disk read in full each time with a reason, the qcow2 one incremental, cdrom left out', async () => {
    const vm = 'e2e-raw';
    await freshVm(lab, vm, { disks: 1 });
    const raw = `${vv.dir}/e2e-raw-vdb.raw`;
    await run('qemu-img', ['create', '-q', '-f', 'raw', raw, '16M']);
    // a hot-plugged disk has no share-rw override: give it data before it is attached
    await run('qemu-io', ['-f', 'raw', '-c', 'write -P 0x40 1M 64k', raw]);
    await virsh(
      lab,
      'a',
      'attach-disk',
      vm,
      raw,
      'vdb',
      '--driver',
      'qemu',
      '--subdriver',
      'raw',
      '--persistent',
    );
    await virsh(
      lab,
      'a',
      'attach-disk',
      vm,
      '',
      'sda',
      '--type',
      'cdrom',
      '--targetbus',
      'sata',
      '--config',
    );
    await lab.write(vm, 'vda', 0, MiB, { randomSeed: 'raw-a' });
    const taken: Taken[] = [];
    // rounds 0 and 1 with the domain running, round 2 with it shut off (qemu-nbd, no bitmap
    // exported for the raw disk)
    for (const round of [0, 1, 2]) {
      if (round === 2) {
        await virsh(lab, 'a', 'destroy', vm);
        await run('qemu-io', ['-f', 'raw', '-c', 'write -P 0x52 3M 64k', raw]);
        await run('qemu-io', [
          '-f',
          'qcow2',
          '-c',
          'write -P 0x52 5M 64k',
          await lab.image(vm, 'vda'),
        ]);
      } else {
        await lab.write(vm, 'vda', (2 + round) * MiB, 64 * 1024, { pattern: 0x40 + round });
      }
      const json = await vv.backup(vm, 'a');
      assert.equal(json.level, round === 0 ? 'full' : 'incremental', json.reasons.join());
      assert.ok(json.reasons.includes('DISKS_WITHOUT_BITMAPS'), json.reasons.join());
      assert.deepEqual(json.disks.map((d) => d.target).sort(), ['vda', 'vdb']);
      const read = new Map(json.disks.map((d) => [d.target, d.bytesRead]));
      // the raw disk's data (64 KiB, unchanged) is read every time; vda's changes only, once
      // there is a checkpoint (on vda alone) to build on
      assert.ok((read.get('vdb') ?? 0) >= 64 * 1024, `vdb read in full: ${read.get('vdb')}`);
      if (round > 0) {
        assert.ok((read.get('vda') ?? 0) < MiB, `vda read only its changes: ${read.get('vda')}`);
      }
      const copies = await copyDisks(lab, vm, ['vda'], vv.dir, `raw${round}`);
      await run('qemu-img', [
        'convert',
        '-U',
        '-f',
        'raw',
        '-O',
        'raw',
        raw,
        `${vv.dir}/raw${round}-vdb.raw`,
      ]);
      copies.set('vdb', `${vv.dir}/raw${round}-vdb.raw`);
      taken.push({ json, copies });
    }
    await restoreAll(vm, taken);
    await lab.rmvm(vm);
  });

  it('transient VM: full then incremental, both restore identical', async () => {
    const vm = 'e2e-tr';
    await freshVm(lab, vm, { transient: true });
    const taken: Taken[] = [];
    for (const round of [0, 1]) {
      await writeRound(lab, vm, ['vda'], round);
      const json = await vv.backup(vm, 'a');
      taken.push({ json, copies: await copyDisks(lab, vm, ['vda'], vv.dir, String(round)) });
    }
    assert.deepEqual(
      taken.map((t) => t.json.level),
      ['full', 'incremental'],
    );
    assert.ok(taken[0]?.json.reasons.includes('NO_PARENT'));
    await restoreAll(vm, taken);
  });

  it('a restore into a filesystem without room: RESTORE_NO_SPACE, nothing left behind', async () => {
    // e2e-run's disks hold ~10 MiB of data each by now
    const small = `${vv.dir}/small-out`;
    await run('mkdir', ['-p', small]);
    await run('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', small]);
    try {
      for (const format of ['qcow2', 'raw']) {
        const out = `${small}/${format}/made`;
        const args = ['restore', '--repo', vv.repo, '--domain', 'e2e-run', '--output', out];
        const r = await vv.cli([...args, '--format', format, '--json']);
        assert.equal(r.code, 1, r.stdout);
        const err = (JSON.parse(r.stdout) as { error: { code: string; message: string } }).error;
        assert.equal(err.code, 'RESTORE_NO_SPACE', `${format}: ${err.message}`);
        assert.match(err.message, /has no room left for disk vda/);
        assert.deepEqual(await readdir(small), [], `${format}: no file or folder left`);
      }
    } finally {
      await run('umount', [small]);
    }
  });

  it('a backup into a repository without room: REPO_NO_SPACE, nothing recorded, the chain goes on', async () => {
    const vm = 'e2e-run';
    const lastIn = async (repo: string): Promise<string[]> => {
      const r = await vv.cli(['snapshots', '--repo', repo, '--domain', vm, '--json']);
      assert.equal(r.code, 0, r.stdout);
      return (JSON.parse(r.stdout) as { snapshots: { id: string }[] }).snapshots.map((s) => s.id);
    };
    const before = await lastIn(vv.repo);
    const checkpoints = await virsh(lab, 'a', 'checkpoint-list', vm, '--name');
    // e2e-run's two disks hold ~10 MiB of data each: a full does not fit in 4 MiB
    const small = `${vv.dir}/small-repo`;
    await run('mkdir', ['-p', small]);
    await run('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', small]);
    try {
      const args = ['backup', '--domain', vm, '--repo', `${small}/repo`, '--json'];
      const r = await vv.cli([...args, ...(await vv.hostArgs('a'))]);
      assert.equal(r.code, 1, r.stdout);
      const err = (JSON.parse(r.stdout) as { error: { code: string; message: string } }).error;
      assert.equal(err.code, 'REPO_NO_SPACE', err.message);
      assert.match(err.message, /free space or raise the quota/);
      assert.deepEqual(await lastIn(`${small}/repo`), [], 'no snapshot in the full repository');
      const { stdout: temps } = await run('find', [small, '-name', '.tmp-*']);
      assert.equal(temps, '', 'no chunk temp left behind');
    } finally {
      await run('umount', [small]);
    }
    assert.equal(await virsh(lab, 'a', 'checkpoint-list', vm, '--name'), checkpoints);
    assert.match(await virsh(lab, 'a', 'domjobinfo', vm), /Job type:\s+None/);
    // the lineage is as it was: the next run continues the chain in the first repository
    await writeRound(lab, vm, ['vda'], 4);
    const next = await vv.backup(vm, 'a');
    assert.equal(next.level, 'incremental', JSON.stringify(next.reasons));
    assert.equal(next.parent, before.at(-1));
    assert.deepEqual(await lastIn(vv.repo), [...before, next.snapshot]);
  });

  it('several domains in one run: a failure is reported and the rest goes on; --all', async () => {
    interface Many {
      runs: { domain: string; ok: boolean; backup?: BackupJson; error?: { code: string } }[];
      failed: number;
    }
    const common = ['--repo', vv.repo, '--json', ...(await vv.hostArgs('a'))];
    const named = ['--domain', 'e2e-run', '--domain', 'e2e-nosuch', '--domain', 'e2e-off'];
    const r = await vv.cli(['backup', ...named, ...common]);
    assert.equal(r.code, 1, 'one of them failed');
    const doc = JSON.parse(r.stdout) as Many;
    assert.deepEqual(
      doc.runs.map((x) => [x.domain, x.ok, x.backup?.level ?? x.error?.code]),
      [
        ['e2e-run', true, 'incremental'],
        ['e2e-nosuch', false, 'DOMAIN_NOT_FOUND'],
        ['e2e-off', true, 'incremental'],
      ],
    );
    assert.equal(doc.failed, 1);
    // every domain of the host: others' leftovers may be there, ours are backed up
    const all = await vv.cli(['backup', '--all', ...common]);
    const allDoc = JSON.parse(all.stdout) as Many;
    assert.equal(all.code, allDoc.failed > 0 ? 1 : 0, all.stdout);
    for (const vm of ['e2e-run', 'e2e-off', 'e2e-tr']) {
      const run = allDoc.runs.find((x) => x.domain === vm);
      assert.equal(run?.ok, true, `${vm}: ${JSON.stringify(run)}`);
      assert.equal(run?.backup?.level, 'incremental');
    }
    assert.equal((await vv.cli(['backup', '--all', '--domain', 'x', ...common])).code, 2);
    assert.equal((await vv.cli(['backup', ...common])).code, 2);

    // a stopped domain whose disk another process holds, as the QEMU of the host it migrated to
    // does: --all leaves it out without failing the night, and its chain stays whole
    const sock = `${vv.dir}/holder.sock`;
    const image = await lab.image('e2e-off', 'vda');
    const holder = spawn('qemu-nbd', ['-k', sock, '-f', 'qcow2', image], { stdio: 'ignore' });
    const exited = new Promise((resolve) => holder.once('exit', resolve));
    try {
      for (let i = 0; i < 200 && !(await exists(sock)); i++) {
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      const held = await vv.cli(['backup', '--all', ...common]);
      const heldDoc = JSON.parse(held.stdout) as Many & { inUseElsewhere: string[] };
      assert.deepEqual(heldDoc.inUseElsewhere, ['e2e-off'], held.stdout);
      assert.ok(!heldDoc.runs.some((x) => x.domain === 'e2e-off'));
      assert.equal(held.code, heldDoc.failed > 0 ? 1 : 0, held.stdout);
      const one = await vv.cli(['backup', '--domain', 'e2e-off', ...common]);
      assert.equal(one.code, 1, 'named, it fails');
      assert.match(one.stdout + one.stderr, /DISK_IN_USE/);
    } finally {
      holder.kill('SIGTERM');
      await exited;
    }
    const next = await vv.backup('e2e-off', 'a');
    assert.equal(next.level, 'incremental', JSON.stringify(next.reasons));
  });

  it('a backup that fails before its copy leaves no new repository behind', async () => {
    const fresh = `${vv.dir}/never-made`;
    const args = ['backup', '--domain', 'e2e-nosuch', '--json', ...(await vv.hostArgs('a'))];
    const r = await vv.cli([...args, '--repo', fresh]);
    assert.equal(r.code, 1, r.stdout);
    assert.equal(
      (JSON.parse(r.stdout) as { error: { code: string } }).error.code,
      'DOMAIN_NOT_FOUND',
    );
    await assert.rejects(stat(fresh), { code: 'ENOENT' }, 'no folder made for the repository');
    // an empty folder stays empty; one holding other files is refused before anything is done
    await run('mkdir', [fresh]);
    assert.equal((await vv.cli([...args, '--repo', fresh])).code, 1);
    assert.deepEqual(await readdir(fresh), []);
    await run('touch', [`${fresh}/notes.txt`]);
    const other = await vv.cli([...args, '--repo', fresh]);
    assert.equal(
      (JSON.parse(other.stdout) as { error: { code: string } }).error.code,
      'REPO_NOT_FOUND',
    );
    assert.deepEqual(await readdir(fresh), ['notes.txt']);
  });
});
