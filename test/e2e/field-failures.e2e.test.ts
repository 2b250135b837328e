import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';

import { Lab } from '../lab/index.js';

import { assertIdentical, copyDisks, freshVm, Standalone, virsh, waitForJobSocket } from './cli.js';

const run = promisify(execFile);
const MiB = 1024 * 1024;
const VM = 'e2e-ff';

/**
 * The field failures that break checkpoint chains, each followed by `backup --level auto`: doctor
 * names the cause first with the code the run then records, the run recovers with the right level,
 * and the run after it is incremental again. Order matters: the domain starts persistent (offline
 * bitmap removal needs a shut-off domain) and becomes transient on re-creation.
 */
describe('field failures: every broken chain recovers in the next run', () => {
  const lab = new Lab();
  const vv = new Standalone(lab);
  let host = 'a';
  let round = 0;

  before(async () => {
    await lab.up(['a', 'b']);
    await vv.setUp();
    await freshVm(lab, VM, { disks: 1, size: '64M' });
    await lab.write(VM, 'vda', 0, 4 * MiB, { randomSeed: 'ff-base' });
    assert.equal((await vv.backup(VM, host)).level, 'full');
  });

  after(async () => {
    // the working folder goes even when removing a VM fails
    try {
      await lab.rmvm(VM);
    } finally {
      await vv.tearDown();
    }
  });

  async function write(): Promise<void> {
    round++;
    await lab.write(VM, 'vda', (8 + round) * MiB, 64 * 1024, { pattern: 0x20 + round });
  }

  /** Doctor names `expected`, the recovering run takes `level` with it, the next is incremental. */
  async function recovers(expected: string[], level: string): Promise<void> {
    await write();
    const named = await vv.doctorReasons(VM, host);
    for (const code of expected) {
      assert.ok(named.includes(code), `doctor names ${code}: ${named.join(',')}`);
    }
    const r = await vv.backup(VM, host);
    assert.equal(r.level, level, `recovering run: ${r.reasons.join(',')}`);
    for (const code of expected) {
      assert.ok(r.reasons.includes(code), `run records ${code}: ${r.reasons.join(',')}`);
    }
    const copies = await copyDisks(lab, VM, ['vda'], vv.dir, `r${round}`);
    await write();
    const next = await vv.backup(VM, host);
    assert.equal(next.level, 'incremental', `the run after: ${next.reasons.join(',')}`);
    const restored = await vv.restore(VM, r.snapshot);
    await assertIdentical(restored.get('vda') as string, copies.get('vda') as string);
  }

  /** The largest chunk file of a repository. */
  async function largestChunk(repo: string): Promise<string> {
    let best = { path: '', size: -1 };
    for (const hh of await readdir(`${repo}/chunks`)) {
      for (const name of await readdir(`${repo}/chunks/${hh}`)) {
        const p = `${repo}/chunks/${hh}/${name}`;
        const { size } = await stat(p);
        best = size > best.size ? { path: p, size } : best;
      }
    }
    return best.path;
  }

  async function bitmapNames(): Promise<string[]> {
    return (await lab.bitmaps(VM)).map((b) => String(b['name']));
  }

  it('qemu killed with SIGKILL: full (bitmap missing or inconsistent)', async () => {
    await lab.killQemu(VM);
    await virsh(lab, host, 'start', VM);
    await write();
    const named = await vv.doctorReasons(VM, host);
    const code = named.find((c) => c === 'BITMAP_MISSING' || c === 'BITMAP_INCONSISTENT');
    assert.ok(code !== undefined, named.join(','));
    await recovers([code], 'full');
  });

  it('a bitmap removed offline: full (BITMAP_MISSING)', async () => {
    const latest = (await bitmapNames())[0] as string;
    await virsh(lab, host, 'destroy', VM);
    await run('qemu-img', ['bitmap', '--remove', await lab.image(VM, 'vda'), latest]);
    await virsh(lab, host, 'start', VM);
    await recovers(['BITMAP_MISSING'], 'full');
  });

  it('checkpoint metadata deleted: incremental after a redefine', async () => {
    const names = (await virsh(lab, host, 'checkpoint-list', VM, '--name')).split('\n');
    for (const n of names.filter((x) => x.trim() !== '').reverse()) {
      await virsh(lab, host, 'checkpoint-delete', VM, n.trim(), '--metadata');
    }
    await recovers(['CHECKPOINT_REDEFINED'], 'incremental');
  });

  it('doctor plans with the --level and --max-chain the run is given', async () => {
    const doctor = async (...extra: string[]) => {
      const args = ['doctor', '--domain', VM, '--repo', vv.repo, '--json', ...extra];
      return vv.cli([...args, ...(await vv.hostArgs(host))]);
    };
    const plan = (r: { stdout: string }) =>
      (JSON.parse(r.stdout) as { plan: { level: string; reasons: string[] } }).plan;
    assert.equal(plan(await doctor()).level, 'incremental');
    for (const extra of [
      ['--level', 'full'],
      ['--max-chain', '1'],
    ]) {
      const p = plan(await doctor(...extra));
      assert.equal(p.level, 'full', extra.join(' '));
      assert.ok(p.reasons.includes('POLICY_FULL'), p.reasons.join(','));
    }
    const bad = await doctor('--level', 'sometimes');
    assert.equal(bad.code, 2, bad.stdout);
    assert.match(bad.stdout, /USAGE/);
  });

  it('the domain re-created as transient: incremental after a redefine', async () => {
    await lab.recreate(VM);
    await recovers(['CHECKPOINT_REDEFINED'], 'incremental');
  });

  it('a disk added: full (DISKS_CHANGED)', async () => {
    const img = await lab.image(VM, 'vdb');
    await run('qemu-img', ['create', '-q', '-f', 'qcow2', img, '32M']);
    await virsh(
      lab,
      host,
      'attach-disk',
      VM,
      img,
      'vdb',
      '--driver',
      'qemu',
      '--subdriver',
      'qcow2',
      '--live',
    );
    await recovers(['DISKS_CHANGED'], 'full');
  });

  it('live migration to host b, backed up there: incremental after a redefine', async () => {
    await lab.migrate(VM, 'a', 'b', 'live');
    host = 'b';
    await recovers(['CHECKPOINT_REDEFINED', 'DOMAIN_MIGRATED'], 'incremental');
  });

  it('a chunk of the chain damaged: verify moves it aside, a full, and every snapshot heals', async () => {
    // the largest chunk is the 4 MiB of random data at the start of vda, unchanged since the base
    const chunk = await largestChunk(vv.repo);
    const bytes = await readFile(chunk);
    bytes.writeUInt8(bytes.readUInt8(100) ^ 0xff, 100);
    await writeFile(chunk, bytes);
    const verify = async (
      ...only: string[]
    ): Promise<{ ok: boolean; chunks: { quarantined?: boolean }[] }> => {
      const r = await vv.cli(['verify', '--repo', vv.repo, '--json', ...only]);
      assert.equal(r.code === 0, (JSON.parse(r.stdout) as { ok: boolean }).ok, r.stdout);
      return JSON.parse(r.stdout) as { ok: boolean; chunks: { quarantined?: boolean }[] };
    };
    // only the oldest snapshot: the newest, the next run's parent, is not marked failed, yet it
    // names the chunk too; building on it would carry the missing chunk into every new snapshot
    const snaps = await vv.cli(['snapshots', '--repo', vv.repo, '--domain', VM, '--json']);
    const oldest = (JSON.parse(snaps.stdout) as { snapshots: { id: string }[] }).snapshots[0];
    assert.ok(oldest !== undefined);
    const found = await verify('--domain', VM, '--snapshot', oldest.id);
    assert.equal(found.ok, false);
    assert.deepEqual(
      found.chunks.map((c) => c.quarantined),
      [true],
    );
    await recovers(['PARENT_SNAPSHOT_UNUSABLE'], 'full');
    // the full stored the damaged bytes afresh: the snapshots that named them read whole again
    assert.equal((await verify()).ok, true);
  });

  it('the newest manifest damaged: listed as such, restores skip it, a full, then incrementals', async () => {
    const snaps = await vv.cli(['snapshots', '--repo', vv.repo, '--domain', VM, '--json']);
    const list = JSON.parse(snaps.stdout) as {
      snapshots: { id: string; domain: { uuid: string } }[];
    };
    const newest = list.snapshots.at(-1);
    const older = list.snapshots.at(-2);
    assert.ok(newest !== undefined && older !== undefined);
    const manifest = `${vv.repo}/snapshots/${newest.domain.uuid}/${newest.id}/manifest.json`;
    await writeFile(manifest, (await readFile(manifest)).subarray(0, 100));
    const after = await vv.cli(['snapshots', '--repo', vv.repo, '--domain', VM, '--json']);
    assert.equal(after.code, 0, after.stdout + after.stderr);
    const doc = JSON.parse(after.stdout) as {
      snapshots: { id: string }[];
      damaged: { id: string; error: { code: string } }[];
    };
    assert.equal(doc.snapshots.length, list.snapshots.length - 1);
    assert.deepEqual(
      doc.damaged.map((d) => [d.id, d.error.code]),
      [[newest.id, 'REPO_MANIFEST_INVALID']],
    );
    const restore = ['restore', '--repo', vv.repo, '--domain', VM, '--json'];
    const r = await vv.cli([...restore, '--output', `${vv.dir}/restore-damaged`]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal((JSON.parse(r.stdout) as { snapshot: string }).snapshot, older.id);
    assert.match(r.stderr, new RegExp(`skipping damaged snapshot ${newest.id}`));
    const asked = await vv.cli([...restore, '--snapshot', newest.id, '--output', `${vv.dir}/rd2`]);
    assert.equal(
      (JSON.parse(asked.stdout) as { error: { code: string } }).error.code,
      'REPO_MANIFEST_INVALID',
    );
    // once every night failed on it; now the chain is taken as broken
    await recovers(['PARENT_SNAPSHOT_UNUSABLE'], 'full');
    const forget = ['forget', '--repo', vv.repo, '--domain', newest.domain.uuid, '--json'];
    const f = await vv.cli([...forget, '--snapshot', newest.id]);
    assert.equal(f.code, 0, f.stdout + f.stderr);
    const left = await vv.cli(['snapshots', '--repo', vv.repo, '--domain', VM, '--json']);
    assert.deepEqual((JSON.parse(left.stdout) as { damaged: unknown[] }).damaged, []);
  });

  it("the newest snapshot's disk index lost: doctor says so, a full, then incrementals", async () => {
    const snaps = await vv.cli(['snapshots', '--repo', vv.repo, '--domain', VM, '--json']);
    const newest = (
      JSON.parse(snaps.stdout) as { snapshots: { id: string; domain: { uuid: string } }[] }
    ).snapshots.at(-1);
    assert.ok(newest !== undefined);
    await rm(`${vv.repo}/snapshots/${newest.domain.uuid}/${newest.id}/vda.index`);
    // once every night failed with REPO_INDEX_CORRUPT
    await recovers(['PARENT_SNAPSHOT_UNUSABLE'], 'full');
  });

  it('the embedded lineage damaged: a clear error, and moved aside it is rebuilt, chain intact', async () => {
    const control = `${vv.dir}/state/lineage/global/pg_control`;
    const saved = await readFile(control);
    await writeFile(control, Buffer.alloc(saved.length, 0x5a));
    await write();
    const r = await vv.cli(await vv.backupArgs(VM, host));
    assert.equal(r.code, 1, r.stdout);
    const err = (JSON.parse(r.stdout) as { error: { code: string; message: string } }).error;
    assert.equal(err.code, 'LINEAGE_UNREADABLE');
    assert.match(err.message, /move .*\/state\/lineage aside/);
    assert.match(await virsh(lab, host, 'domjobinfo', VM), /Job type:\s+None/);
    await rename(`${vv.dir}/state/lineage`, `${vv.dir}/lineage-damaged`);
    const next = await vv.backup(VM, host);
    assert.equal(next.level, 'incremental', next.reasons.join(','));
    assert.ok(next.reasons.includes('SNAPSHOT_RECONCILED'), next.reasons.join(','));
  });

  it('virtvault killed mid-run: the next run ends the stale job and succeeds', async () => {
    await lab.write(VM, 'vda', 16 * MiB, 16 * MiB, { randomSeed: 'ff-big' });
    const child = await vv.spawnBackup(VM, host);
    const jobInfo = () => virsh(lab, host, 'domjobinfo', VM).catch((e: Error) => e.message);
    // killed as soon as the job's NBD socket exists: 16 MiB are copied in well under a second
    await waitForJobSocket(`${vv.dir}/scratch`);
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    assert.match(await jobInfo(), /Backup/, 'the killed run left its job');
    const r = await vv.backup(VM, host);
    assert.ok(r.level === 'incremental' || r.level === 'full', r.level);
    assert.match(await virsh(lab, host, 'domjobinfo', VM), /Job type:\s+None/);
    // the stale job's folder (socket, scratch image) went with it
    assert.deepEqual(await readdir(`${vv.dir}/scratch`), []);
  });

  it('a run while another virtvault copies the domain: refused before it touches anything', async () => {
    // another lineage (as the agent beside a standalone run has): its planner does not know the
    // running job's new checkpoint, and once deleted it as an orphan, failing the first run
    const other = (await vv.hostArgs(host)).map((a) => a.replace(/\/state$/, '/state-other'));
    const refused: string[] = [];
    // A first run held (SIGSTOP) per refused command: held for both, it could outlast libvirt's
    // keepalive (about 30 s) on a slow machine and fail for that.
    for (const cmd of [
      ['backup', '--json'],
      ['doctor', '--fix', '--json'],
    ]) {
      await lab.write(VM, 'vda', 16 * MiB, 16 * MiB, { randomSeed: `ff-busy-${cmd[0]}` });
      const child = await vv.spawnBackup(VM, host);
      let out = '';
      child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
      const exited = new Promise<number>((resolve) => child.on('exit', (c) => resolve(c ?? -1)));
      await waitForJobSocket(`${vv.dir}/scratch`);
      child.kill('SIGSTOP');
      try {
        const r = await vv.cli([...cmd, '--domain', VM, '--repo', vv.repo, ...other]);
        assert.equal(r.code, 1, `${cmd.join(' ')}: ${r.stdout}`);
        const err = (JSON.parse(r.stdout) as { error: { code: string; message: string } }).error;
        assert.match(err.message, /being backed up by virtvault right now \(process \d+\)/);
        refused.push(err.code);
      } finally {
        child.kill('SIGCONT');
      }
      assert.equal(await exited, 0, `the first run: ${out}`);
    }
    assert.deepEqual(refused, ['BACKUP_JOB_ACTIVE', 'BACKUP_JOB_ACTIVE']);
    await write();
    const next = await vv.backup(VM, host);
    assert.equal(next.level, 'incremental', `its checkpoint intact: ${next.reasons.join(',')}`);
  });

  it("two lineages on one domain (a second state folder): each stays incremental, neither removes the other's checkpoints", async () => {
    const other = (await vv.hostArgs(host)).map((a) => a.replace(/\/state$/, '/state-second'));
    const repo2 = `${vv.dir}/repo-second`;
    const second = async (): Promise<{ level: string; reasons: string[] }> => {
      const r = await vv.cli(['backup', '--json', '--domain', VM, '--repo', repo2, ...other]);
      assert.equal(r.code, 0, `second lineage: ${r.stdout} ${r.stderr}`);
      return JSON.parse(r.stdout) as { level: string; reasons: string[] };
    };
    const levels: string[] = [];
    for (let i = 0; i < 3; i++) {
      await write();
      const s = await second();
      if (i === 0) {
        assert.ok(s.reasons.includes('FOREIGN_CHECKPOINTS_IGNORED'), s.reasons.join(','));
      }
      await write();
      levels.push(s.level, (await vv.backup(VM, host)).level);
    }
    assert.deepEqual(levels, [
      'full',
      'incremental',
      'incremental',
      'incremental',
      'incremental',
      'incremental',
    ]);
    const owners = new Set(
      (await virsh(lab, host, 'checkpoint-list', VM, '--name'))
        .split('\n')
        .filter((n) => n.startsWith('vv-'))
        .map((n) => n.slice(0, 11)),
    );
    // (the first lineage was rebuilt above under a new tag: its recorded old-tag heads count too)
    assert.ok(owners.size >= 2, `both lineages' checkpoints stay: ${[...owners].join(',')}`);
  });

  it('a scratch folder without room: refused before anything is made, the guest never hit', async () => {
    const tiny = `${vv.dir}/tiny-scratch`;
    await run('mkdir', ['-p', tiny]);
    // mode 0711: a tmpfs is world-writable (1777) by default, which a scratch folder must not be
    await run('mount', ['-t', 'tmpfs', '-o', 'size=8m,mode=0711', 'tmpfs', tiny]);
    try {
      await write();
      const before = await virsh(lab, host, 'checkpoint-list', VM, '--name');
      const args = (await vv.backupArgs(VM, host)).map((a) =>
        a === `${vv.dir}/scratch` ? tiny : a,
      );
      const r = await vv.cli(args);
      assert.equal(r.code, 1, r.stdout);
      const err = (JSON.parse(r.stdout) as { error: { code: string; message: string } }).error;
      assert.equal(err.code, 'SCRATCH_NO_SPACE');
      assert.match(err.message, /has 8\.0 MiB free: .* the guest's own writes fail/);
      assert.equal(await virsh(lab, host, 'checkpoint-list', VM, '--name'), before);
      assert.match(await virsh(lab, host, 'domjobinfo', VM), /Job type:\s+None/);
      assert.deepEqual(await readdir(tiny), []);
      // doctor says so before the next run does
      const doctorArgs = ['doctor', '--json', '--domain', VM, '--repo', vv.repo];
      const d = await vv.cli([...doctorArgs, ...args.slice(args.indexOf('--connect'))]);
      const scratch = (JSON.parse(d.stdout) as { scratch: { problem: { code: string } | null } })
        .scratch;
      assert.equal(scratch.problem?.code, 'SCRATCH_NO_SPACE', d.stdout);
    } finally {
      await run('umount', [tiny]);
    }
    // a folder others may write (a tmpfs's default mode): refused as such, and doctor says so
    await chmod(tiny, 0o1777);
    const args = (await vv.backupArgs(VM, host)).map((a) => (a === `${vv.dir}/scratch` ? tiny : a));
    const unsafe = await vv.cli(args);
    assert.equal(unsafe.code, 1, unsafe.stdout);
    const code = (JSON.parse(unsafe.stdout) as { error: { code: string } }).error.code;
    assert.equal(code, 'SCRATCH_UNSAFE');
    const doctorArgs = ['doctor', '--json', '--domain', VM, '--repo', vv.repo];
    const d = await vv.cli([...doctorArgs, ...args.slice(args.indexOf('--connect'))]);
    const scratch = (JSON.parse(d.stdout) as { scratch: { problem: { code: string } | null } })
      .scratch;
    assert.equal(scratch.problem?.code, 'SCRATCH_UNSAFE', d.stdout);
    const next = await vv.backup(VM, host);
    assert.equal(next.level, 'incremental', next.reasons.join(','));
  });
});
