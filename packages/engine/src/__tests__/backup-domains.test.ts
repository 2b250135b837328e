/**
 * The host's inventory (`backup --all`, the agent's domain list) when a domain vanishes between
 * libvirt's listing and its description: a transient domain powered off at that moment. The race
 * cannot be provoked on a real libvirtd at will, so a fake connection (listDomains only) stands
 * in for it; the domains it lists fail as libvirt's binding fails.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
  type Connection,
  type DiskInfo,
  type DomainDescription,
  LibvirtError,
} from '@virtvault/libvirt';

import { LibvirtHypervisor } from '../hypervisor.js';

const VIR_ERR_NO_DOMAIN = 42;
const VIR_ERR_OPERATION_TIMEOUT = 68;
const VIR_FROM_QEMU = 10;

function disk(target: string, device: string): DiskInfo {
  const base = { target, device, readOnly: device !== 'disk', shareable: false, backingChain: [] };
  return device === 'disk' ? { ...base, path: `/images/${target}.qcow2` } : base;
}

/** A listed domain whose description resolves, or rejects with libvirt error `failWith`. */
function fakeDomain(name: string, disks: DiskInfo[], failWith?: number) {
  return {
    describe: (): Promise<DomainDescription> =>
      failWith === undefined
        ? Promise.resolve({ name, disks } as unknown as DomainDescription)
        : Promise.reject(new LibvirtError(failWith, VIR_FROM_QEMU, `domain ${name}`, 'describe')),
  };
}

/** FAKE libvirt connection: only the listing the inventory reads. */
function fakeConnection(domains: ReturnType<typeof fakeDomain>[]): Connection {
  return { listDomains: () => Promise.resolve(domains) } as unknown as Connection;
}

describe('backupDomains: the host inventory', () => {
  it('skips a domain gone since the listing and lists the rest', async () => {
    const conn = fakeConnection([
      fakeDomain('web1', [disk('vda', 'disk')]),
      fakeDomain('gone', [disk('vda', 'disk')], VIR_ERR_NO_DOMAIN),
      fakeDomain('iso', [disk('sda', 'cdrom')]),
      fakeDomain('db1', [disk('vda', 'disk'), disk('sda', 'cdrom')]),
    ]);
    const h = new LibvirtHypervisor(conn, 'a');
    assert.deepEqual(await h.backupDomains(), { names: ['db1', 'web1'], without: ['iso'] });
  });

  it('fails on any other libvirt error, rather than hide a domain that still exists', async () => {
    const conn = fakeConnection([
      fakeDomain('web1', [disk('vda', 'disk')]),
      fakeDomain('slow', [disk('vda', 'disk')], VIR_ERR_OPERATION_TIMEOUT),
    ]);
    const h = new LibvirtHypervisor(conn, 'a');
    await assert.rejects(h.backupDomains(), { code: 'VIR_ERR_OPERATION_TIMEOUT' });
  });
});
