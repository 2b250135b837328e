import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { buildRestoredDomainXml, parseDomainXml } from '../index.js';

const XML = `<domain type='kvm' id='4' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
  <name>web1</name>
  <uuid>4798e474-1d5b-4b39-9b7a-0d8c2c0d0a11</uuid>
  <memory unit='KiB'>131072</memory>
  <devices>
    <disk type='block' device='disk'>
      <driver name='qemu' type='raw' cache='none'/>
      <source dev='/dev/vg/web1'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <interface type='network'><mac address='52:54:00:12:34:56'/><source network='default'/></interface>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='/images/web1-top.qcow2' index='3'/>
      <backingStore type='file' index='2'><format type='qcow2'/><source file='/images/base.qcow2'/></backingStore>
      <target dev='vdb' bus='virtio'/>
    </disk>
    <disk type='file' device='cdrom'><target dev='sda' bus='sata'/><readonly/></disk>
  </devices>
  <qemu:commandline><qemu:arg value='-no-reboot'/></qemu:commandline>
</domain>`;

describe('buildRestoredDomainXml', () => {
  it('renames, drops uuid and MACs, points restored disks at their files, keeps the rest', () => {
    const out = buildRestoredDomainXml(XML, 'web1-restored', [
      { target: 'vda', file: '/srv/r/vda.qcow2', format: 'qcow2' },
      { target: 'vdb', file: '/srv/r/vdb.raw', format: 'raw' },
    ]);
    const d = parseDomainXml(out);
    assert.equal(d.name, 'web1-restored');
    assert.equal(d.uuid, '');
    assert.equal(d.id, undefined);
    assert.ok(!out.includes('52:54:00:12:34:56'));
    const [vda, vdb, cd] = d.disks;
    assert.equal(vda?.path, '/srv/r/vda.qcow2');
    assert.equal(vda?.source?.format, 'qcow2');
    assert.equal(vda?.source?.type, 'file');
    assert.equal(vdb?.path, '/srv/r/vdb.raw');
    assert.equal(vdb?.source?.format, 'raw');
    assert.deepEqual(vdb?.backingChain, []);
    assert.equal(cd?.device, 'cdrom');
    assert.match(out, /qemu:commandline/);
    assert.ok(
      out.indexOf('vda') < out.indexOf('<interface') &&
        out.indexOf('<interface') < out.indexOf('vdb'),
    );
  });
});
