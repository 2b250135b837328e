// Pull backups, checkpoints, redefinition after transient re-creation, and the field failure of
// abbbi/virtnbdbackup#266 (QEMU killed -> inconsistent bitmaps) against the lab's real libvirtd.
import assert from 'node:assert/strict';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';

import {
  buildCheckpointXml,
  buildPullBackupXml,
  Connection,
  DomainXmlFlags,
  imageBitmaps,
  isCheckpointInconsistent,
  isNoBackup,
  isOperationInvalid,
  offlineDiskBitmaps,
  removeRunningBitmap,
  runningDiskBitmaps,
  type Domain,
  type LibvirtEvent,
} from '../index.js';
import { lab, LAB_ROOT, labHost, scratchDir } from './lab-helper.js';

const VM = 'lvchain';
const dir = scratchDir(VM);
const socket = `${dir}/nbd.sock`;

/** Pull backup with checkpoint `cp`, incremental from `from`; then abort the job. */
async function pullBackup(d: Domain, cp: string, from?: string): Promise<void> {
  const spec = { socket, disks: [{ name: 'vda', scratchFile: `${dir}/scratch-vda.qcow2` }] };
  const xml = buildPullBackupXml(from === undefined ? spec : { ...spec, incremental: from });
  await d.backupBegin(
    xml,
    buildCheckpointXml({ name: cp, disks: [{ name: 'vda', checkpoint: 'bitmap' }] }),
  );
  const job = await d.backupJob();
  assert.equal(job.mode, 'pull');
  assert.equal(job.server?.socket, socket);
  assert.equal(job.disks[0]?.exportName, 'vda');
  assert.equal(job.disks[0]?.backupMode, from === undefined ? 'full' : 'incremental');
  assert.equal(job.disks[0]?.exportBitmap, from === undefined ? undefined : 'backup-vda');
  const stats = await d.jobStats();
  assert.equal(stats.type, 'unbounded');
  assert.equal(stats.stats['operation'], 9 /* VIR_DOMAIN_JOB_OPERATION_BACKUP */);
  await d.abortJob();
  await waitJobGone(d);
}

/**
 * Re-creates the killed transient domain from the XML the lab saved. (`lab recreate` cannot do it:
 * its host lookup dies inside a command substitution when the domain is on no host.) libvirt refuses
 * `create` for ~2 s after QEMU was killed (`domain is already active`): retry on OPERATION_INVALID.
 */
async function recreateAfterKill(): Promise<Domain> {
  const xml = await readFile(`${LAB_ROOT}/vms/${VM}.xml`, 'utf8');
  const end = Date.now() + 10_000;
  for (;;) {
    try {
      return await conn.createDomain(xml);
    } catch (e) {
      if (!isOperationInvalid(e) || Date.now() > end) {
        throw e;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

/** abortJob returns before libvirt has torn the backup job down: poll until it is gone. */
async function waitJobGone(d: Domain): Promise<void> {
  const end = Date.now() + 5000;
  for (;;) {
    const gone = await d.backupXml().then(
      () => false,
      (e: unknown) => isNoBackup(e),
    );
    if (gone) {
      return;
    }
    assert.ok(Date.now() < end, 'backup job still present 5 s after abortJob');
    await new Promise((r) => setTimeout(r, 20));
  }
}

let conn: Connection;

describe(`backup chain on a lab domain (${VM})`, () => {
  let d: Domain;
  const events: LibvirtEvent[] = [];
  const saved = new Map<string, string>();

  before(async () => {
    const uri = await labHost('a');
    await lab('rmvm', VM).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
    // rmvm keeps images: start from a fresh qcow2 without old bitmaps
    await rm(`${LAB_ROOT}/images/${VM}-vda.qcow2`, { force: true });
    await mkdir(dir, { recursive: true });
    await lab('vm', VM, '64M');
    conn = await Connection.connect(uri);
    conn.subscribe((e) => events.push(e));
    d = await conn.lookupByName(VM);
  });
  after(async () => {
    await conn?.close();
    await lab('rmvm', VM);
  });

  it('takes a full and an incremental pull backup that create checkpoints', async () => {
    assert.equal(d.initialStatus.state, 'running');
    assert.equal(d.initialStatus.persistent, true);
    await pullBackup(d, 'cp0');
    await lab('write', VM, 'vda', '1M', '64K', '--pattern', '0x55');
    await pullBackup(d, 'cp1', 'cp0');
    assert.deepEqual(await d.checkpoints.list(), [{ name: 'cp0' }, { name: 'cp1', parent: 'cp0' }]);
    const done = events.filter((e) => e.type === 'job-completed' && e.domain.name === VM);
    assert.ok(done.length >= 1, `job-completed events: ${JSON.stringify(events)}`);
    for (const name of ['cp0', 'cp1']) {
      saved.set(name, await d.checkpoints.xml(name));
    }
  });

  it('reads every disk bitmap with its flags from QMP', async () => {
    const [vda] = await runningDiskBitmaps(d);
    assert.equal(vda?.target, 'vda');
    assert.match(vda?.node ?? '', /^libvirt-\d+-format$/);
    assert.deepEqual(
      vda?.bitmaps.map((b) => [b.name, b.recording, b.persistent, b.inconsistent]).sort(),
      [
        ['cp0', true, true, false],
        ['cp1', true, true, false],
      ],
    );
    const cp0 = vda?.bitmaps.find((b) => b.name === 'cp0');
    assert.ok((cp0?.count ?? 0) >= 65536, 'cp0 saw the 64 KiB write');
  });

  it('redefines the checkpoints after the domain is re-created as transient', async () => {
    await lab('recreate', VM);
    d = await conn.lookupByName(VM);
    assert.equal((await d.status()).persistent, false);
    assert.deepEqual(await d.checkpoints.list(), []);
    await d.checkpoints.create(saved.get('cp0') ?? '', { redefineValidate: true });
    await d.checkpoints.create(saved.get('cp1') ?? '', { redefineValidate: true });
    assert.deepEqual(await d.checkpoints.list(), [{ name: 'cp0' }, { name: 'cp1', parent: 'cp0' }]);
    await pullBackup(d, 'cp2', 'cp1');
    assert.match(await d.xml(DomainXmlFlags.MIGRATABLE), /<uuid>/);
  });

  it('reports inconsistent bitmaps and CHECKPOINT_INCONSISTENT after QEMU was killed', async () => {
    const image = await lab('image', VM, 'vda');
    await lab('kill-qemu', VM);
    // offline view: qemu-img flags in-use + auto
    const offline = await imageBitmaps(image);
    assert.deepEqual(offline.map((b) => [b.name, b.inconsistent, b.recording]).sort(), [
      ['cp0', true, true],
      ['cp1', true, true],
    ]);
    d = await recreateAfterKill();
    const qmp = (await lab('bitmaps', VM))
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const [vda] = await runningDiskBitmaps(d);
    for (const b of vda?.bitmaps ?? []) {
      const raw = qmp.find((q) => q['name'] === b.name);
      assert.equal(b.inconsistent, true, b.name);
      assert.equal(b.recording, false, b.name);
      assert.equal(raw?.['inconsistent'], b.inconsistent);
      assert.equal(raw?.['recording'], b.recording);
    }
    await assert.rejects(
      d.checkpoints.create(saved.get('cp0') ?? '', { redefineValidate: true }),
      (e) => {
        assert.ok(isCheckpointInconsistent(e), String(e));
        assert.match(e.message, /missing or broken bitmap 'cp0' for disk 'vda'/);
        return true;
      },
    );
    // without validation the metadata comes back, and the backup start is what fails
    await d.checkpoints.create(saved.get('cp0') ?? '', { redefine: true });
    await d.checkpoints.create(saved.get('cp1') ?? '', { redefine: true });
    await assert.rejects(
      d.backupBegin(buildPullBackupXml({ socket, incremental: 'cp1' })),
      isCheckpointInconsistent,
    );
  });

  it('removes bitmaps over QMP and deletes checkpoint metadata leaf-first', async () => {
    await removeRunningBitmap(d, 'vda', 'cp1');
    const [vda] = await runningDiskBitmaps(d);
    assert.deepEqual(
      vda?.bitmaps.map((b) => b.name),
      ['cp0'],
    );
    await d.checkpoints.delete('cp1', { metadataOnly: true });
    await d.checkpoints.delete('cp0', { metadataOnly: true });
    assert.deepEqual(await d.checkpoints.list(), []);
  });

  it('redefines offline without validation; validation needs a running domain', async () => {
    const xml = await d.xml(DomainXmlFlags.MIGRATABLE);
    await d.destroy();
    const def = await conn.defineDomain(xml);
    assert.equal((await def.status()).state, 'shutoff');
    await assert.rejects(
      def.checkpoints.create(saved.get('cp0') ?? '', { redefineValidate: true }),
      isOperationInvalid,
    );
    assert.deepEqual(await def.checkpoints.create(saved.get('cp0') ?? '', { redefine: true }), {
      name: 'cp0',
    });
    const [vda] = await offlineDiskBitmaps(def);
    assert.equal(vda?.target, 'vda');
    assert.deepEqual(
      vda?.bitmaps.map((b) => b.name),
      ['cp0'],
    );
    await def.undefine({ checkpointsMetadata: true });
  });
});
