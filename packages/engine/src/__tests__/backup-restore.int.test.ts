import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { access, mkdtemp, rm, stat } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';

import {
  type BackupLevel,
  type BackupRequest,
  type Confirmed,
  CoreError,
  hasErrorCode,
  type SnapshotManifest,
} from '@virtvault/core';
import { Connection } from '@virtvault/libvirt';
import { Repository } from '@virtvault/repo';
import { Lab } from '@virtvault/testkit';

import { Executor } from '../executor.js';
import { LibvirtHypervisor } from '../hypervisor.js';
import { restoreSnapshot } from '../restore.js';

const run = promisify(execFile);
const exists = (p: string) =>
  access(p).then(
    () => true,
    () => false,
  );
const MiB = 1024 * 1024;
const VM = 'engtest1';

/** `qemu-img compare` of a restored disk against a saved copy of the source. */
async function assertIdentical(restored: string, format: string, source: string): Promise<void> {
  const r = await run('qemu-img', ['compare', '-U', '-f', format, '-F', 'raw', restored, source]);
  assert.match(r.stdout, /Images are identical/);
}

describe('engine: pull backups of a running domain, restored byte-exact', () => {
  const lab = new Lab();
  let work: string;
  let conn: Connection;
  let repo: Repository;
  let hv: LibvirtHypervisor;
  let executor: Executor;
  let clock = Date.parse('2026-11-25T10:00:00Z');
  const progress = new Map<string, number>();
  const snapshots: { manifest: SnapshotManifest; copies: Map<string, string> }[] = [];

  before(async () => {
    await lab.up(['a']);
    await lab.rmvm(VM);
    for (const d of ['vda', 'vdb']) {
      await rm(await lab.image(VM, d), { force: true });
    }
    await lab.vm(VM, '64M', { disks: 2 });
    // no scratch folder yet: the executor makes it (a first backup on a new host)
    work = await mkdtemp('/var/tmp/vv-eng-');
    conn = await Connection.connect(await lab.uri('a'));
    repo = await Repository.init(`${work}/repo`, { workers: 2 });
    hv = new LibvirtHypervisor(conn, 'a');
    executor = new Executor({
      hypervisor: hv,
      openRepository: () => Promise.resolve(repo),
      scratchDir: `${work}/scratch`,
      toolVersion: 'test',
      now: () => (clock += 1000),
      onProgress: (p) => progress.set(p.target, p.bytesRead),
    });
  });

  after(async () => {
    await repo?.close();
    await conn?.close();
    await lab.rmvm(VM);
    await rm(work, { recursive: true, force: true });
  });

  /** The domain's checkpoints, by name. */
  async function checkpoints(): Promise<string[]> {
    return (await (await conn.lookupDomain(VM)).checkpoints.list()).map((c) => c.name).sort();
  }

  /**
   * An executor over the test's repository that calls `copied` once both disks are read whole
   * (the moment a plan not yet confirmed is cancelled, a Ctrl-C comes, or a guest is powered off).
   */
  function executorWhenCopied(copied: () => void, signal?: AbortSignal): Executor {
    const done = new Set<string>();
    return new Executor({
      hypervisor: hv,
      openRepository: () => Promise.resolve(repo),
      scratchDir: `${work}/scratch`,
      toolVersion: 'test',
      now: () => (clock += 1000),
      ...(signal !== undefined ? { signal } : {}),
      onProgress: (p) => {
        if (p.bytesRead === p.bytesToRead && done.add(p.target).size === 2) {
          copied();
        }
      },
    });
  }

  /** A confirmation an early attempt waits for, and its cancellation. */
  function unconfirmed(): { proceed: Promise<Confirmed>; cancel: (e: Error) => void } {
    let cancel = (_e: Error): void => undefined;
    const proceed = new Promise<Confirmed>((_resolve, reject) => {
      cancel = reject;
    });
    return { proceed, cancel };
  }

  async function backup(level: BackupLevel, n: number): Promise<SnapshotManifest> {
    const observed = await hv.observe(VM);
    const prev = snapshots.at(-1)?.manifest ?? null;
    const parent = level === 'differential' ? (snapshots[0]?.manifest ?? null) : prev;
    const req: BackupRequest = {
      repository: repo.root,
      snapshotId: `s${n}`,
      observed,
      level,
      parentSnapshot: level === 'full' ? null : (parent?.id ?? null),
      incrementalFrom: level === 'full' ? null : (parent?.checkpoint?.name ?? null),
      newCheckpoint: { name: `vv-cp${n}`, disks: ['vda', 'vdb'], mode: 'live' },
      reasons: [],
      heartbeat: () => Promise.resolve(),
    };
    const manifest = await executor.execute(req);
    // the source as it was at the snapshot's moment (no writes in between)
    const copies = new Map<string, string>();
    for (const d of ['vda', 'vdb']) {
      const copy = `${work}/src-${n}-${d}.raw`;
      await run('qemu-img', ['convert', '-U', '-O', 'raw', await lab.image(VM, d), copy]);
      copies.set(d, copy);
    }
    snapshots.push({ manifest, copies });
    return manifest;
  }

  it('takes full, incremental, differential, incremental; each restores identical', async () => {
    await lab.write(VM, 'vda', 0, 8 * MiB, { randomSeed: 'eng-a' });
    await lab.write(VM, 'vdb', 20 * MiB, 3 * MiB, { randomSeed: 'eng-b' });
    const full = await backup('full', 1);
    assert.equal(full.level, 'full');
    assert.equal(full.checkpoint?.name, 'vv-cp1');
    assert.ok(full.disks.every((d) => d.bytesRead > 0));

    // scattered 64 KiB writes and a contiguous run
    for (const off of [1, 9, 17, 33, 50]) {
      await lab.write(VM, 'vda', off * MiB + 64 * 1024, 64 * 1024, { pattern: 0x11 + off });
    }
    await lab.write(VM, 'vdb', 40 * MiB, 8 * MiB, { randomSeed: 'eng-c' });
    const inc = await backup('incremental', 2);
    assert.equal(inc.parent, 's1');
    const vdaRead = progress.get('vda') ?? -1;
    assert.ok(
      vdaRead <= 5 * 64 * 1024,
      `incremental read only the dirty bytes of vda (${vdaRead})`,
    );

    await lab.write(VM, 'vda', 3 * MiB, MiB, { pattern: 0x77 });
    const diff = await backup('differential', 3);
    assert.equal(diff.parent, 's1');

    await lab.write(VM, 'vdb', 0, 64 * 1024, { pattern: 0x99 });
    await backup('incremental', 4);

    for (const [i, s] of snapshots.entries()) {
      for (const format of ['qcow2', 'raw'] as const) {
        const outputDir = `${work}/restore-${i}-${format}`;
        const restored = await restoreSnapshot({
          repo,
          domainUuid: s.manifest.domain.uuid,
          snapshotId: s.manifest.id,
          outputDir,
          format,
        });
        assert.equal(restored.length, 2);
        for (const r of restored) {
          await assertIdentical(r.path, format, s.copies.get(r.target) as string);
        }
      }
    }
    const jobs = await run('virsh', ['-q', '-c', await lab.uri('a'), 'domjobinfo', VM]);
    assert.match(jobs.stdout, /Job type:\s+None/);
  });

  it('an attempt started early and cancelled leaves no job, checkpoint or snapshot', async () => {
    const last = snapshots.at(-1)?.manifest;
    assert.ok(last !== undefined, 'runs after the chain above');
    const before = await checkpoints();
    await lab.write(VM, 'vda', 12 * MiB, 2 * MiB, { randomSeed: 'eng-d' });
    await lab.write(VM, 'vdb', 8 * MiB, 4 * MiB, { randomSeed: 'eng-e' });
    // cancelled at once (the copy stops), then once the copy is done (the commit never happens)
    for (const [n, when] of [
      [5, 'start'],
      [6, 'copied'],
    ] as const) {
      const { proceed, cancel } = unconfirmed();
      const early = executorWhenCopied(() => cancel(new Error('plan not confirmed')));
      const req: BackupRequest = {
        repository: repo.root,
        snapshotId: `s${n}`,
        observed: await hv.observe(VM),
        level: 'incremental',
        parentSnapshot: last.id,
        incrementalFrom: last.checkpoint?.name ?? null,
        newCheckpoint: { name: `vv-cp${n}`, disks: ['vda', 'vdb'], mode: 'live' },
        reasons: [],
        heartbeat: () => Promise.resolve(),
        proceed,
      };
      const attempt = early.execute(req);
      if (when === 'start') {
        cancel(new Error('plan not confirmed'));
      }
      await assert.rejects(attempt);
      assert.deepEqual(await checkpoints(), before, `${when}: the new checkpoint is gone`);
      const ids = (await repo.listSnapshots(last.domain.uuid)).map((r) => r.id);
      assert.ok(!ids.includes(`s${n}`), `${when}: no snapshot s${n}`);
      const jobs = await run('virsh', ['-q', '-c', await lab.uri('a'), 'domjobinfo', VM]);
      assert.match(jobs.stdout, /Job type:\s+None/);
    }
    // the chain goes on from the same checkpoint, with every write since
    const next = await backup('incremental', 7);
    assert.equal(next.parent, last.id);
    const s = snapshots.at(-1) as (typeof snapshots)[number];
    const outputDir = `${work}/restore-after-cancel`;
    const restored = await restoreSnapshot({
      repo,
      domainUuid: next.domain.uuid,
      snapshotId: next.id,
      outputDir,
      format: 'raw',
    });
    for (const r of restored) {
      await assertIdentical(r.path, 'raw', s.copies.get(r.target) as string);
    }
  });

  it('a writer that fails to open leaves no job, checkpoint or snapshot', async () => {
    const last = snapshots.at(-1)?.manifest;
    assert.ok(last !== undefined, 'runs after the chain above');
    const before = await checkpoints();
    const req: BackupRequest = {
      repository: repo.root,
      snapshotId: 's8',
      observed: await hv.observe(VM),
      level: 'incremental',
      // no such snapshot: the writer cannot open (the checkpoint to read changes since is valid)
      parentSnapshot: 'no-such-snapshot',
      incrementalFrom: last.checkpoint?.name ?? null,
      newCheckpoint: { name: 'vv-cp8', disks: ['vda', 'vdb'], mode: 'live' },
      reasons: [],
      heartbeat: () => Promise.resolve(),
    };
    // the code runBackup retries as a full, with the repository's reason as its cause
    await assert.rejects(
      executor.execute(req),
      (e) =>
        hasErrorCode(e, 'PARENT_UNREADABLE') &&
        hasErrorCode((e as Error).cause, 'REPO_PARENT_MISSING'),
    );
    assert.deepEqual(await checkpoints(), before, 'the new checkpoint is gone');
    const ids = (await repo.listSnapshots(last.domain.uuid)).map((r) => r.id);
    assert.ok(!ids.includes('s8'), 'no snapshot s8');
    const jobs = await run('virsh', ['-q', '-c', await lab.uri('a'), 'domjobinfo', VM]);
    assert.match(jobs.stdout, /Job type:\s+None/);
    // and the chain goes on
    const next = await backup('incremental', 9);
    assert.equal(next.parent, last.id);
  });
  it('a signal while the plan awaits confirmation commits nothing (BACKUP_INTERRUPTED)', async () => {
    const last = snapshots.at(-1)?.manifest;
    assert.ok(last !== undefined, 'runs after the chain above');
    const before = await checkpoints();
    await lab.write(VM, 'vda', 30 * MiB, 2 * MiB, { randomSeed: 'eng-f' });
    await lab.write(VM, 'vdb', 30 * MiB, 1 * MiB, { randomSeed: 'eng-g' });
    const stop = new AbortController();
    let copiedAll = false;
    // the user's Ctrl-C once every disk is copied, the plan not yet confirmed
    const interrupted = executorWhenCopied(() => {
      copiedAll = true;
      stop.abort(new Error('interrupted by SIGINT'));
    }, stop.signal);
    const req: BackupRequest = {
      repository: repo.root,
      snapshotId: 's10',
      observed: await hv.observe(VM),
      level: 'incremental',
      parentSnapshot: last.id,
      incrementalFrom: last.checkpoint?.name ?? null,
      newCheckpoint: { name: 'vv-cp10', disks: ['vda', 'vdb'], mode: 'live' },
      reasons: [],
      heartbeat: () => Promise.resolve(),
      // never confirmed: the early attempt waits for the lineage when the signal comes
      proceed: new Promise<Confirmed>(() => undefined),
    };
    await assert.rejects(interrupted.execute(req), (e) => hasErrorCode(e, 'BACKUP_INTERRUPTED'));
    assert.ok(copiedAll, 'the copy had ended');
    assert.deepEqual(await checkpoints(), before, 'the new checkpoint is gone');
    const ids = (await repo.listSnapshots(last.domain.uuid)).map((r) => r.id);
    assert.ok(!ids.includes('s10'), 'no snapshot s10');
    const jobs = await run('virsh', ['-q', '-c', await lab.uri('a'), 'domjobinfo', VM]);
    assert.match(jobs.stdout, /Job type:\s+None/);
    const next = await backup('incremental', 11);
    assert.equal(next.parent, last.id, 'the chain goes on from the same checkpoint');
  });
  it('a run taken over (its heartbeat says so) stops and commits nothing (RUN_TAKEN_OVER)', async () => {
    const last = snapshots.at(-1)?.manifest;
    assert.ok(last !== undefined, 'runs after the chain above');
    const before = await checkpoints();
    await lab.write(VM, 'vda', 34 * MiB, 2 * MiB, { randomSeed: 'eng-h' });
    const beaten = new Executor({
      hypervisor: hv,
      openRepository: () => Promise.resolve(repo),
      scratchDir: `${work}/scratch`,
      toolVersion: 'test',
      now: () => (clock += 1000),
      heartbeatMs: 20,
      // an executor deaf to the lost lease would wait for the confirmation forever
      signal: AbortSignal.timeout(20_000),
    });
    let beats = 0;
    const req: BackupRequest = {
      repository: repo.root,
      snapshotId: 's20',
      observed: await hv.observe(VM),
      level: 'incremental',
      parentSnapshot: last.id,
      incrementalFrom: last.checkpoint?.name ?? null,
      newCheckpoint: { name: 'vv-cp20', disks: ['vda', 'vdb'], mode: 'live' },
      reasons: [],
      // what runBackup's heartbeat does once the lineage says another run took the domain over
      heartbeat: () => {
        beats += 1;
        return Promise.reject(new CoreError('RUN_TAKEN_OVER', 'run taken over by a later run'));
      },
      // never confirmed: only the lost lease can end the attempt, whatever the copy's speed
      proceed: new Promise<Confirmed>(() => undefined),
    };
    await assert.rejects(beaten.execute(req), (e) => hasErrorCode(e, 'RUN_TAKEN_OVER'));
    assert.ok(beats > 0, 'the lease was renewed during the attempt');
    assert.deepEqual(await checkpoints(), before, 'the new checkpoint is gone');
    const ids = (await repo.listSnapshots(last.domain.uuid)).map((r) => r.id);
    assert.ok(!ids.includes('s20'), 'no snapshot s20');
    const jobs = await run('virsh', ['-q', '-c', await lab.uri('a'), 'domjobinfo', VM]);
    assert.match(jobs.stdout, /Job type:\s+None/);
    const next = await backup('incremental', 21);
    assert.equal(next.parent, last.id, 'the chain goes on from the same checkpoint');
  });
  it('a restore whose last step fails (a definition refused) removes every disk it wrote', async () => {
    const last = snapshots.at(-1)?.manifest;
    assert.ok(last !== undefined, 'runs after the chain above');
    const outputDir = `${work}/restore-refused/deeper`;
    const seen: string[] = [];
    await assert.rejects(
      restoreSnapshot({
        repo,
        domainUuid: last.domain.uuid,
        snapshotId: last.id,
        outputDir,
        format: 'qcow2',
        complete: (disks, m) => {
          seen.push(...disks.map((d) => d.target), m.id);
          return Promise.reject(new Error('domain definition refused'));
        },
      }),
      /domain definition refused/,
    );
    assert.deepEqual(seen, ['vda', 'vdb', last.id], 'called once every disk was written');
    await assert.rejects(stat(`${work}/restore-refused`), { code: 'ENOENT' });
    // and the same restore runs again
    const again = await restoreSnapshot({
      repo,
      domainUuid: last.domain.uuid,
      snapshotId: last.id,
      outputDir,
      format: 'qcow2',
    });
    assert.equal(again.length, 2);
  });
  it('restores qcow2 into a folder whose path is longer than a unix socket path may be', async () => {
    const last = snapshots.at(-1);
    assert.ok(last !== undefined, 'runs after the chain above');
    const outputDir = `${work}/${'long-folder-name-'.repeat(7)}`;
    assert.ok(`${outputDir}/vda.qcow2.nbd.sock`.length > 107);
    const restored = await restoreSnapshot({
      repo,
      domainUuid: last.manifest.domain.uuid,
      snapshotId: last.manifest.id,
      outputDir,
      format: 'qcow2',
    });
    for (const r of restored) {
      await assertIdentical(r.path, 'qcow2', last.copies.get(r.target) as string);
    }
  });
  // last: it powers the guest off
  it('a guest powered off mid-run leaves neither the new checkpoint nor its bitmaps', async () => {
    const last = snapshots.at(-1)?.manifest;
    assert.ok(last !== undefined, 'runs after the chain above');
    await lab.write(VM, 'vda', 40 * MiB, 1 * MiB, { randomSeed: 'eng-h' });
    const { proceed, cancel } = unconfirmed();
    let copied = (): void => undefined;
    const copiedAll = new Promise<void>((resolve) => (copied = resolve));
    const executor2 = executorWhenCopied(() => copied());
    const attempt = executor2.execute({
      repository: repo.root,
      snapshotId: 's12',
      observed: await hv.observe(VM),
      level: 'incremental',
      parentSnapshot: last.id,
      incrementalFrom: last.checkpoint?.name ?? null,
      newCheckpoint: { name: 'vv-cp12', disks: ['vda', 'vdb'], mode: 'live' },
      reasons: [],
      heartbeat: () => Promise.resolve(),
      proceed,
    });
    await copiedAll;
    // the hard power-off of the field failures; QEMU still writes its bitmaps into the images
    await run('virsh', ['-q', '-c', await lab.uri('a'), 'destroy', VM]);
    cancel(new Error('plan not confirmed'));
    await assert.rejects(attempt);
    assert.ok(!(await checkpoints()).includes('vv-cp12'), 'no checkpoint metadata');
    for (const d of ['vda', 'vdb']) {
      const out = await run('qemu-img', ['info', '-U', '--output=json', await lab.image(VM, d)]);
      const info = JSON.parse(out.stdout) as {
        'format-specific'?: { data?: { bitmaps?: { name: string }[] } };
      };
      const bitmaps = (info['format-specific']?.data?.bitmaps ?? []).map((b) => b.name);
      assert.ok(!bitmaps.includes('vv-cp12'), `${d}: no bitmap vv-cp12 (${bitmaps.join(', ')})`);
      assert.ok(bitmaps.includes(last.checkpoint?.name ?? '?'), `${d}: the parent's stays`);
    }
  });

  it('an offline backup reads only the disks libvirt defines, never a path the request names', async () => {
    const observed = await hv.observe(VM);
    assert.equal(observed.domain.state, 'shut-off', 'runs after the power-off above');
    // another image of the host, named as if it were vda (a stale observation, a forged request)
    const decoy = `${work}/decoy.qcow2`;
    await run('qemu-img', ['create', '-q', '-f', 'qcow2', decoy, '64M']);
    const forged = {
      ...observed,
      disks: observed.disks.map((d) => (d.target === 'vda' ? { ...d, source: decoy } : d)),
    };
    const attempt = executor.execute({
      repository: repo.root,
      snapshotId: 's13',
      observed: forged,
      level: 'full',
      parentSnapshot: null,
      incrementalFrom: null,
      newCheckpoint: { name: 'vv-cp13', disks: ['vda', 'vdb'], mode: 'live' },
      reasons: [],
      heartbeat: () => Promise.resolve(),
    });
    await assert.rejects(
      attempt,
      (e: unknown) => (e as { code?: string }).code === 'DISKS_CHANGED',
    );
    const out = await run('qemu-img', ['info', '--output=json', decoy]);
    assert.doesNotMatch(out.stdout, /vv-cp13/, 'no bitmap added to the decoy');
    assert.ok(!(await checkpoints()).includes('vv-cp13'));
    const ids = (await repo.listSnapshots()).filter((x) => x.committed).map((x) => x.id);
    assert.ok(!ids.includes('s13'), 'nothing committed');
  });

  it('a stopped domain whose image another process holds is DISK_IN_USE, not a broken chain', async () => {
    // the domain migrated and runs on another host: its old definition here is shut off, and
    // that host's QEMU holds the image (here a writable qemu-nbd does)
    const image = await lab.image(VM, 'vda');
    const sock = `${work}/holder.sock`;
    const holder = spawn('qemu-nbd', ['-k', sock, '-f', 'qcow2', image], { stdio: 'ignore' });
    const exited = new Promise((r) => holder.once('exit', r));
    try {
      for (let i = 0; i < 200 && !(await exists(sock)); i++) {
        await new Promise((r) => setTimeout(r, 25));
      }
      await assert.rejects(hv.observe(VM), (e: unknown) => hasErrorCode(e, 'DISK_IN_USE'));
    } finally {
      holder.kill('SIGTERM');
      await exited;
    }
    const observed = await hv.observe(VM);
    assert.equal(observed.domain.state, 'shut-off');
  });
});
