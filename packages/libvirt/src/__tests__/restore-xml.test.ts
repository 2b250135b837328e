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

const UEFI = `<domain type='kvm'>
  <name>web1</name>
  <uuid>4798e474-1d5b-4b39-9b7a-0d8c2c0d0a11</uuid>
  <genid>43dc0cf8-809b-4adb-9bea-a9abb5f3d90d</genid>
  <sysinfo type='smbios'><system><entry name='manufacturer'>ACME</entry><entry name='uuid'>4798e474-1d5b-4b39-9b7a-0d8c2c0d0a11</entry></system></sysinfo>
  <os>
    <type arch='x86_64' machine='q35'>hvm</type>
    <loader readonly='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE.fd</loader>
    <nvram template='/usr/share/OVMF/OVMF_VARS.fd'>/var/lib/libvirt/qemu/nvram/web1_VARS.fd</nvram>
  </os>
  <devices>
    <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='/images/web1-vda.qcow2'/><target dev='vda' bus='virtio'/></disk>
    <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='/images/web1-data.qcow2'/><target dev='vdb' bus='virtio'/></disk>
    <disk type='network' device='disk'><source protocol='rbd' name='pool/web1-log'/><target dev='vdc' bus='virtio'/></disk>
    <disk type='file' device='disk'><source file='/images/tools.img'/><target dev='vdd' bus='virtio'/><readonly/></disk>
  </devices>
</domain>`;

describe('buildRestoredDomainXml', () => {
  it("leaves the original's writable disks, NVRAM file and identity out of the copy", () => {
    const out = buildRestoredDomainXml(UEFI, 'web1-copy', [
      { target: 'vda', file: '/srv/r/vda.qcow2', format: 'qcow2' },
    ]);
    const d = parseDomainXml(out);
    // vdb (a file) and vdc (rbd) were not restored: the copy must not write the original's
    assert.deepEqual(
      d.disks.map((x) => x.target),
      ['vda', 'vdd'],
    );
    assert.ok(!out.includes('web1-data.qcow2') && !out.includes('web1-log'), out);
    // a fresh variable store from the template, not the original's file
    assert.ok(!out.includes('web1_VARS.fd'), out);
    assert.match(out, /<nvram template="\/usr\/share\/OVMF\/OVMF_VARS.fd"(><\/nvram>|\/>)/);
    // libvirt takes a missing <uuid> from SMBIOS: that entry goes, the others stay
    assert.ok(!out.includes('4798e474'), out);
    assert.match(out, /<entry name="manufacturer">ACME<\/entry>/);
    assert.ok(!out.includes('43dc0cf8'), 'a new VM generation id');
    assert.match(out, /<genid(><\/genid>|\/>)/);
  });

  it("leaves out a writable floppy (backups skip it; kept, the copy would write the original's)", () => {
    const xml = XML.replace(
      '</devices>',
      "<disk type='file' device='floppy'><source file='/images/web1-fd.img'/><target dev='fda'/></disk>" +
        "<disk type='file' device='floppy'><source file='/images/drivers.img'/><target dev='fdb'/><readonly/></disk>" +
        '</devices>',
    );
    const out = buildRestoredDomainXml(xml, 'web1-copy', [
      { target: 'vda', file: '/srv/r/vda.raw', format: 'raw' },
      { target: 'vdb', file: '/srv/r/vdb.qcow2', format: 'qcow2' },
    ]);
    assert.ok(!out.includes('web1-fd.img'), out);
    assert.ok(out.includes('drivers.img'), 'a read-only floppy stays, as a cdrom does');
  });

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
