// Push-mode backups (QEMU writes the target file itself) and block-job events, against the lab.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, rm } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';

import { buildPushBackupXml, Connection, type LibvirtEvent } from '../index.js';
import { lab, labHost, scratchDir } from './lab-helper.js';

const run = promisify(execFile);
const VM = 'lvpush';

async function waitFor(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    assert.ok(Date.now() < end, `${what}: not seen in time`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('push backups and block jobs', () => {
  let uri: string;
  let conn: Connection;
  const events: LibvirtEvent[] = [];
  const dir = scratchDir('push');

  before(async () => {
    uri = await labHost('a');
    await lab('rmvm', VM);
    await rm(await lab('image', VM, 'vda'), { force: true });
    await lab('vm', VM, '32M', '--transient');
    await lab('write', VM, 'vda', '1048576', '2097152', '--random', 'push');
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    conn = await Connection.connect(uri);
    conn.subscribe((e) => events.push(e));
  });

  after(async () => {
    await conn?.close();
    await lab('rmvm', VM);
    await rm(dir, { recursive: true, force: true });
  });

  it('takes a push backup that QEMU writes into a qcow2 target, with a job-completed event', async () => {
    const d = await conn.lookupByName(VM);
    const target = `${dir}/push-vda.qcow2`;
    const xml = buildPushBackupXml({
      disks: [{ name: 'vda', targetFile: target, format: 'qcow2' }],
    });
    await d.backupBegin(xml);
    await waitFor(
      () => events.some((e) => e.type === 'job-completed' && e.domain.name === VM),
      30_000,
      'job-completed',
    );
    const done = events.find((e) => e.type === 'job-completed' && e.domain.name === VM);
    assert.equal(done?.type === 'job-completed' && done.failed, false);
    const img = await lab('image', VM, 'vda');
    const cmp = await run('qemu-img', ['compare', '-U', target, img]);
    assert.match(cmp.stdout, /Images are identical/);
  });

  it('delivers block-job events of a block copy (ready, then completed)', async () => {
    const copy = `${dir}/copy-vda.qcow2`;
    await run('virsh', ['-c', uri, 'blockcopy', VM, 'vda', copy, '--wait', '--finish']);
    const jobs = () =>
      events.filter((e) => e.type === 'block-job' && e.domain.name === VM && e.disk === 'vda');
    await waitFor(
      () => jobs().some((e) => e.type === 'block-job' && e.status === 'completed'),
      10_000,
      'completed',
    );
    assert.ok(jobs().some((e) => e.type === 'block-job' && e.status === 'ready'));
  });
});
