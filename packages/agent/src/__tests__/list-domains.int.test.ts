/**
 * The host's inventory when some stopped domains cannot be observed: one whose image is gone
 * (qemu-img fails) and one whose image another process holds (as on the host a live migration
 * left, `DISK_IN_USE`). They failed the whole ListDomains, and the controller took the host for
 * down; they are listed shut off and without disks, beside the healthy domain.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';

import type { InventoryDomain } from '@virtvault/core';
import { QemuNbd } from '@virtvault/engine';
import type { AgentClient } from '@virtvault/proto';
import { Lab } from '@virtvault/testkit';

import { parseConfig } from '../config.js';
import { AgentError } from '../errors.js';
import { AgentServer } from '../server.js';
import { AgentService } from '../service.js';

import { agentYaml, client, makeCerts, virsh } from './agent-fixture.js';

const HEALTHY = 'vvlist1';
const NO_IMAGE = 'vvlist2';
const IN_USE = 'vvlist3';
const VMS = [HEALTHY, NO_IMAGE, IN_USE];

describe('ListDomains with stopped domains that cannot be observed', () => {
  const lab = new Lab();
  let dir = '';
  let service: AgentService;
  let server: AgentServer;
  let agent: AgentClient;
  let holder: QemuNbd | undefined;
  const log: string[] = [];

  before(async () => {
    await lab.up(['a']);
    const uri = await lab.uri('a');
    for (const vm of VMS) {
      await lab.rmvm(vm);
      await rm(await lab.image(vm, 'vda'), { force: true });
      await lab.vm(vm, '64M');
    }
    for (const vm of [NO_IMAGE, IN_USE]) {
      await virsh(uri, 'destroy', vm);
    }
    await rm(await lab.image(NO_IMAGE, 'vda'));
    dir = await mkdtemp('/var/tmp/vv-agent-list-');
    await mkdir(`${dir}/s`);
    // what the QEMU on a migration's destination does to the shared image
    holder = await QemuNbd.start({
      image: await lab.image(IN_USE, 'vda'),
      format: 'qcow2',
      socket: `${dir}/holder.sock`,
      exportName: 'vda',
      readOnly: false,
    });
    await makeCerts(dir);
    const config = parseConfig(agentYaml({ dir, port: 0, uri, max: 1 }), {
      hostName: 'unused',
      baseDir: dir,
    });
    const logFn = (event: string, f: Record<string, unknown>): number =>
      log.push(`${event} ${JSON.stringify(f)}`);
    service = new AgentService({ config, version: 'test', now: () => Date.now(), log: logFn });
    await service.connect();
    server = new AgentServer(service, config, logFn);
    agent = await client(dir, await server.start());
  });

  after(async () => {
    agent?.close();
    await server?.stop(5_000);
    await service?.close(5_000);
    await holder?.close();
    for (const vm of VMS) {
      await lab.rmvm(vm);
      await rm(await lab.image(vm, 'vda'), { force: true });
    }
    await rm(dir, { recursive: true, force: true });
  });

  function byName(domains: InventoryDomain[], name: string): InventoryDomain {
    const d = domains.find((x) => x.name === name);
    assert.ok(d, `${name} among ${domains.map((x) => x.name).join(', ')}`);
    return d;
  }

  it('lists the healthy domain in full and the others shut off without disks', async () => {
    const domains = await agent.listDomains({ deadlineMs: 30_000 });
    const healthy = byName(domains, HEALTHY);
    assert.equal(healthy.state, 'running');
    assert.deepEqual(
      healthy.disks.map((d) => d.target),
      ['vda'],
    );
    for (const name of [NO_IMAGE, IN_USE]) {
      const d = byName(domains, name);
      assert.equal(d.state, 'shut-off');
      assert.equal(d.transient, false);
      assert.deepEqual(d.disks, []);
      assert.match(d.uuid, /^[0-9a-f-]{36}$/);
    }
    const unobserved = log.filter((l) => l.startsWith('domain-unobserved'));
    assert.ok(
      unobserved.some((l) => l.includes(NO_IMAGE) && l.includes('QEMU_IMG_FAILED')),
      unobserved.join('\n'),
    );
    assert.ok(
      unobserved.some((l) => l.includes(IN_USE) && l.includes('DISK_IN_USE')),
      unobserved.join('\n'),
    );
  });

  it('stops listing once its caller went away', async () => {
    const reason = new AgentError('CANCELLED', 'the caller cancelled');
    await assert.rejects(service.listDomains(AbortSignal.abort(reason)), (e) => e === reason);
  });
});
