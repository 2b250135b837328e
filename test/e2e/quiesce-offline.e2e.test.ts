/**
 * `backup --quiesce` on OS-less lab guests (no agent ever answers) and a stopped domain locked
 * against a start during its offline backup, all through the `virtvault` binary.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';

import { Lab } from '../lab/index.js';

import {
  assertIdentical,
  copyDisks,
  freshVm,
  Standalone,
  virsh,
  waitForJobSocket,
  type BackupJson,
} from './cli.js';

const run = promisify(execFile);
const MiB = 1024 * 1024;

interface QuiescedJson extends BackupJson {
  consistency: 'filesystem' | 'crash';
  notes: string[];
}

describe('backup --quiesce and offline backups through the virtvault binary', () => {
  const lab = new Lab();
  const vv = new Standalone(lab);
  const vms = ['e2e-q-noagent', 'e2e-q-agent', 'e2e-q-off'];

  before(async () => {
    await lab.up(['a']);
    await vv.setUp();
  });

  after(async () => {
    // the working folder goes even when removing a VM fails
    try {
      for (const vm of vms) {
        await lab.rmvm(vm);
      }
    } finally {
      await vv.tearDown();
    }
  });

  async function quiesced(vm: string): Promise<QuiescedJson> {
    const r = await vv.cli([...(await vv.backupArgs(vm, 'a')), '--quiesce']);
    assert.equal(r.code, 0, `backup failed: ${r.stdout} ${r.stderr}`);
    return JSON.parse(r.stdout) as QuiescedJson;
  }

  /** The guest is not left frozen: a write goes through, the next backup works and restores. */
  async function assertNotFrozen(vm: string): Promise<void> {
    await lab.write(vm, 'vda', 4 * MiB, MiB, { randomSeed: `${vm}-after` });
    const next = await quiesced(vm);
    assert.equal(next.level, 'incremental');
    const copies = await copyDisks(lab, vm, ['vda'], vv.dir, next.snapshot);
    const restored = await vv.restore(vm, next.snapshot);
    await assertIdentical(restored.get('vda') as string, copies.get('vda') as string);
  }

  it('no agent channel: crash-consistent with the reason; snapshots shows it', async () => {
    const vm = 'e2e-q-noagent';
    await freshVm(lab, vm);
    await lab.write(vm, 'vda', 0, 2 * MiB, { randomSeed: vm });
    const json = await quiesced(vm);
    assert.equal(json.consistency, 'crash');
    assert.equal(json.notes.length, 1);
    assert.match(
      json.notes[0] ?? '',
      /VIR_ERR_ARGUMENT_UNSUPPORTED.*guest agent is not configured/,
    );
    await assertNotFrozen(vm);
    const plain = await vv.backup(vm, 'a');
    const list = await vv.cli(['snapshots', '--repo', vv.repo, '--domain', vm, '--json']);
    const snaps = (JSON.parse(list.stdout) as { snapshots: { id: string; consistency: string }[] })
      .snapshots;
    assert.deepEqual(
      snaps.map((s) => s.consistency),
      ['crash', 'crash', 'crash'],
    );
    assert.equal(snaps[2]?.id, plain.snapshot);
    const text = await vv.cli(['snapshots', '--repo', vv.repo, '--domain', vm]);
    assert.match(text.stdout, /CONSISTENCY/);
  });

  it('agent channel configured but no agent answering: no hang, crash-consistent', async () => {
    const vm = 'e2e-q-agent';
    await freshVm(lab, vm);
    const xmlFile = `${vv.dir}/${vm}.xml`;
    const xml = await virsh(lab, 'a', 'dumpxml', '--inactive', vm);
    const channel =
      "<channel type='unix'><target type='virtio' name='org.qemu.guest_agent.0'/></channel>";
    await writeFile(xmlFile, xml.replace('</devices>', `${channel}</devices>`));
    await virsh(lab, 'a', 'destroy', vm);
    await virsh(lab, 'a', 'define', xmlFile);
    await virsh(lab, 'a', 'start', vm);
    assert.match(await virsh(lab, 'a', 'dumpxml', vm), /org\.qemu\.guest_agent\.0/);
    await lab.write(vm, 'vda', 0, 2 * MiB, { randomSeed: vm });
    const json = await quiesced(vm);
    assert.equal(json.consistency, 'crash');
    assert.match(json.notes[0] ?? '', /VIR_ERR_AGENT_UNRESPONSIVE.*not connected/);
    process.stdout.write(`# quiesce with an unanswered agent channel: ${json.durationMs} ms\n`);
    await assertNotFrozen(vm);
  });

  it('a stopped domain cannot start while its images are read; the backup restores identical', async () => {
    const vm = 'e2e-q-off';
    await freshVm(lab, vm, { size: '1G' });
    // enough data that the copy is under way when the job's socket appears
    await lab.write(vm, 'vda', 0, 512 * MiB, { randomSeed: vm });
    await virsh(lab, 'a', 'destroy', vm);
    const child = await vv.spawnBackup(vm, 'a');
    let out = '';
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number>((resolve) => child.on('exit', (c) => resolve(c ?? -1)));
    await waitForJobSocket(`${vv.dir}/scratch`);
    // Held still while the start is tried: qemu-nbd keeps the images open meanwhile, and a copy
    // grown fast no longer outlasts a `virsh start` (CI saw the backup end first).
    child.kill('SIGSTOP');
    const start = await run('virsh', ['-c', await lab.uri('a'), 'start', vm])
      .then(
        () => 'started',
        (e: { stderr?: string }) => e.stderr ?? '',
      )
      .finally(() => child.kill('SIGCONT'));
    assert.match(start, /Failed to get "write" lock/);
    assert.equal(await exited, 0, `backup failed: ${out}`);
    const json = JSON.parse(out) as QuiescedJson;
    assert.equal(json.level, 'full');
    assert.equal(json.consistency, 'crash');
    assert.equal((await virsh(lab, 'a', 'domstate', vm)).trim(), 'shut off');
    const copies = await copyDisks(lab, vm, ['vda'], vv.dir, 'off');
    const restored = await vv.restore(vm, json.snapshot);
    await assertIdentical(restored.get('vda') as string, copies.get('vda') as string);
    // the next run works, and continues the chain from the offline checkpoint
    await virsh(lab, 'a', 'start', vm);
    await lab.write(vm, 'vda', 600 * MiB, MiB, { randomSeed: `${vm}-2` });
    const inc = await vv.backup(vm, 'a');
    assert.equal(inc.level, 'incremental');
    assert.ok((inc.disks[0]?.bytesRead ?? 0) <= 8 * MiB, `read ${inc.disks[0]?.bytesRead}`);
    const copies2 = await copyDisks(lab, vm, ['vda'], vv.dir, 'on');
    const restored2 = await vv.restore(vm, inc.snapshot);
    await assertIdentical(restored2.get('vda') as string, copies2.get('vda') as string);
  });
});
