// While one libvirt call is stuck for 30 s on a domain's state lock, fs (libuv's pool) and other
// libvirt calls (the addon's own pool) must complete promptly.
// libuv's pool is cut to ONE thread: if the addon ran its calls there, the stuck call would block
// every readFile below. (Set before the pool's first use; node:test runs each file in its own process.)
process.env['UV_THREADPOOL_SIZE'] = '1';

import assert from 'node:assert/strict';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';

import { buildPullBackupXml, Connection, isOperationTimeout, type Domain } from '../index.js';
import { lab, LAB_ROOT, labHost, scratchDir } from './lab-helper.js';

const VM = 'lvlock';
const dir = scratchDir(VM);

describe('a call stuck on the state lock blocks nothing else', () => {
  let conn: Connection;
  let d: Domain;

  before(async () => {
    const uri = await labHost('a');
    await lab('rmvm', VM).catch(() => undefined);
    await rm(`${LAB_ROOT}/images/${VM}-vda.qcow2`, { force: true });
    await mkdir(dir, { recursive: true });
    await lab('vm', VM, '64M');
    conn = await Connection.connect(uri);
    d = await conn.lookupByName(VM);
  });
  after(async () => {
    await d?.abortJob().catch(() => undefined);
    await conn?.close();
    await lab('rmvm', VM);
  });

  it('serves 1,000 readFile and 50 libvirt calls while backupBegin waits 30 s, then times out', async () => {
    const backupXml = buildPullBackupXml({ socket: `${dir}/nbd.sock` });
    await d.backupBegin(backupXml);
    const t0 = Date.now();
    let stuckSettled = false;
    const stuck = d.backupBegin(backupXml).finally(() => {
      stuckSettled = true;
    });
    // give the second begin time to reach the daemon and start waiting for the lock
    await new Promise((r) => setTimeout(r, 300));

    const tFs = Date.now();
    const files = await Promise.all(
      Array.from({ length: 1000 }, () => readFile('/proc/self/status', 'utf8')),
    );
    const fsMs = Date.now() - tFs;
    const tLv = Date.now();
    const calls = await Promise.all(
      Array.from({ length: 50 }, (_, i) => {
        switch (i % 4) {
          case 0:
            return conn.listDomains().then((l) => l.length);
          case 1:
            return conn.lookupByName(VM).then((x) => x.name.length);
          case 2:
            return d.xml().then((x) => x.length);
          default:
            return d.status().then((s) => s.id);
        }
      }),
    );
    const lvMs = Date.now() - tLv;
    console.log(
      `non-blocking: 1000 readFile in ${fsMs} ms, 50 libvirt calls in ${lvMs} ms, pool ${JSON.stringify(Connection.poolStats())}`,
    );
    assert.equal(files.length, 1000);
    assert.equal(calls.length, 50);
    // the proof is that they finish while the stuck call still waits (30 s); libvirtd's own worker
    // queue made the 50 calls take 54 ms to 5.1 s on a loaded 2-core machine, so the bound is 15 s
    assert.ok(fsMs < 5000 && lvMs < 15_000, `fs ${fsMs} ms, libvirt ${lvMs} ms`);
    assert.equal(stuckSettled, false, 'the second backupBegin is still waiting for the lock');

    await assert.rejects(stuck, (e) => {
      assert.ok(isOperationTimeout(e), String(e));
      assert.match(e.message, /cannot acquire state change lock/);
      return true;
    });
    const stuckMs = Date.now() - t0;
    console.log(
      `non-blocking: stuck backupBegin failed after ${stuckMs} ms with VIR_ERR_OPERATION_TIMEOUT`,
    );
    assert.ok(stuckMs >= 25_000, `stuck call took ${stuckMs} ms`);
    await d.abortJob();
  });
});
