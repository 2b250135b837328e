import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { buildRestoredDomain, buildRestoredDomainXml, parseDomainXml } from '../index.js';
import { attr, child, children, hasChild, parseRoot, text, type XmlNode } from '../xml/xml.js';

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

/** A domain with a device of each kind that reaches the original's host resources. */
const HOST = `<domain type='kvm'>
  <name>lab1</name>
  <uuid>6f1c2a0e-3b7d-4e58-9a31-55c0d0b7e001</uuid>
  <maxMemory slots='16' unit='KiB'>67108864</maxMemory>
  <memory unit='MiB'>20992</memory>
  <currentMemory unit='KiB'>4194304</currentMemory>
  <cpu><numa><cell id='0' cpus='0-1' memory='4' unit='GiB'/></numa></cpu>
  <devices>
    <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='/images/lab1.qcow2'/><target dev='vda' bus='virtio'/></disk>
    <controller type='usb' index='0' model='qemu-xhci'/>
    <controller type='pci' index='0' model='pcie-root'/>
    <filesystem type='mount' accessmode='mapped'><driver type='path'/><source dir='/srv/share'/><target dir='share'/></filesystem>
    <filesystem type='mount' accessmode='passthrough'><driver type='virtiofs'/><source dir='/srv/live'/><target dir='live'/></filesystem>
    <filesystem type='mount' accessmode='passthrough'><driver type='path'/><source dir='/srv/iso'/><target dir='iso'/><readonly/></filesystem>
    <interface type='network'><mac address='52:54:00:aa:bb:cc'/><source network='default'/><model type='virtio'/></interface>
    <interface type='hostdev' managed='yes'><mac address='52:54:00:6d:90:02'/><source><address type='pci' domain='0x0000' bus='0x04' slot='0x10' function='0x1'/></source></interface>
    <hostdev mode='subsystem' type='pci' managed='yes'><source><address domain='0x0000' bus='0x03' slot='0x00' function='0x0'/></source></hostdev>
    <hostdev mode='subsystem' type='usb'><source><vendor id='0x046d'/><product id='0xc52b'/></source></hostdev>
    <hostdev mode='subsystem' type='scsi'><source><adapter name='scsi_host0'/><address bus='0' target='0' unit='0'/></source></hostdev>
    <memory model='nvdimm'><source><path>/var/lib/pmem/lab1.img</path></source><target><size unit='GiB'>12</size><node>0</node><label><size unit='KiB'>128</size></label></target></memory>
    <memory model='virtio-pmem' access='shared'><source><path>/var/lib/pmem/lab1-pmem.img</path></source><target><size unit='MiB'>4096</size></target></memory>
    <memory model='dimm'><target><size unit='KiB'>524288</size><node>0</node></target></memory>
    <serial type='file'><source path='/var/log/lab1/serial.log' append='on'/><target type='isa-serial' port='0'/><log file='/var/log/lab1/serial0-qemu.log' append='off'/></serial>
    <serial type='pty'><target type='isa-serial' port='1'/><log file='/var/log/lab1/serial1-qemu.log'/></serial>
    <console type='file'><source path='/var/log/lab1/serial.log' append='on'/><target type='serial' port='0'/></console>
    <channel type='file'><source path='/var/log/lab1/trace.log'/><target type='virtio' name='org.example.trace'/></channel>
    <channel type='unix'><source mode='bind'/><target type='virtio' name='org.qemu.guest_agent.0'/></channel>
    <parallel type='file'><source path='/var/log/lab1/lpt.log'/><target port='0'/></parallel>
    <input type='tablet' bus='usb'/>
    <tpm model='tpm-crb'><backend type='emulator' version='2.0'><source type='dir' path='/srv/swtpm/lab1'/></backend></tpm>
    <graphics type='vnc' port='-1' autoport='yes' listen='127.0.0.1'><listen type='address' address='127.0.0.1'/></graphics>
    <video><model type='virtio' heads='1' primary='yes'/></video>
    <shmem name='lab1-shm'><model type='ivshmem-plain'/><size unit='M'>32</size></shmem>
    <rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>
    <memballoon model='virtio'/>
  </devices>
</domain>`;

const VDA = [{ target: 'vda', file: '/srv/r/vda.qcow2', format: 'qcow2' }];

/** The restored copy of HOST, parsed: its `<devices>`. */
function hostCopy(xml = HOST): { out: string; devices: XmlNode } {
  const out = buildRestoredDomainXml(xml, 'lab1-copy', VDA);
  return { out, devices: child(parseRoot(out, 'domain'), 'devices') ?? {} };
}

describe("buildRestoredDomainXml: devices reaching the original's host resources", () => {
  it('makes a writable 9p folder read-only, leaves out writable virtiofs', () => {
    const { out, devices } = hostCopy();
    const fs = children(devices, 'filesystem');
    const byTag = (t: string) => fs.find((f) => attr(child(f, 'target'), 'dir') === t);
    assert.ok(hasChild(byTag('share'), 'readonly'), out);
    assert.equal(attr(child(byTag('share'), 'source'), 'dir'), '/srv/share');
    // libvirt 9.0 refuses <readonly/> on virtiofs: kept writable it would share the live folder
    assert.equal(byTag('live'), undefined, out);
    assert.ok(!out.includes('/srv/live'), out);
    assert.ok(hasChild(byTag('iso'), 'readonly'), 'a read-only folder stays');
    assert.equal(fs.length, 2);
  });

  it('leaves out host device passthrough, hostdev NICs included', () => {
    const { out, devices } = hostCopy();
    assert.deepEqual(children(devices, 'hostdev'), [], out);
    const nics = children(devices, 'interface');
    assert.deepEqual(
      nics.map((n) => attr(n, 'type')),
      ['network'],
    );
    assert.ok(!out.includes("bus='0x04'") && !out.includes('bus="0x04"'), out);
  });

  it('leaves out file-backed NVDIMM and virtio-pmem, and <memory> no longer counts them', () => {
    const { out, devices } = hostCopy();
    assert.ok(!out.includes('/var/lib/pmem/'), out);
    assert.deepEqual(
      children(devices, 'memory').map((m) => attr(m, 'model')),
      ['dimm'],
    );
    // 20992 MiB = 4 GiB of RAM + 12 GiB nvdimm + 4096 MiB pmem + 512 MiB dimm: RAM + dimm remain
    const memory = child(parseRoot(out, 'domain'), 'memory');
    assert.equal(attr(memory, 'unit'), 'KiB');
    assert.equal(text(memory), String(4194304 + 524288));
  });

  it('turns file-backed serial, console, channel and parallel into ptys without log files', () => {
    const { out, devices } = hostCopy();
    assert.ok(!out.includes('/var/log/lab1/'), out);
    for (const tag of ['serial', 'console', 'parallel']) {
      for (const c of children(devices, tag)) {
        assert.equal(attr(c, 'type'), 'pty', `${tag}: ${out}`);
        assert.ok(!hasChild(c, 'source') && !hasChild(c, 'log'), `${tag}: ${out}`);
      }
    }
    const trace = children(devices, 'channel').find(
      (c) => attr(child(c, 'target'), 'name') === 'org.example.trace',
    );
    assert.equal(attr(trace, 'type'), 'pty');
    assert.equal(attr(child(trace, 'target'), 'type'), 'virtio');
    assert.equal(children(devices, 'serial').length, 2);
  });

  it('gives an emulated TPM fresh state; leaves out a passthrough or external TPM and <shmem>', () => {
    const { out, devices } = hostCopy();
    const tpm = child(devices, 'tpm');
    assert.equal(attr(child(tpm, 'backend'), 'type'), 'emulator', out);
    assert.ok(!hasChild(child(tpm, 'backend'), 'source') && !out.includes('/srv/swtpm'), out);
    assert.equal(child(devices, 'shmem'), undefined, out);
    const host =
      "<tpm model='tpm-tis'><backend type='passthrough'><device path='/dev/tpm0'/></backend></tpm>";
    const ext =
      "<tpm model='tpm-tis'><backend type='external'><source type='unix' mode='connect' path='/run/lab1-swtpm.sock'/></backend></tpm>";
    for (const other of [host, ext]) {
      const copy = hostCopy(HOST.replace(/<tpm .*<\/tpm>/, other));
      assert.equal(child(copy.devices, 'tpm'), undefined, copy.out);
    }
  });

  it('leaves ordinary devices as written', () => {
    const before = child(parseRoot(HOST, 'domain'), 'devices');
    const { devices } = hostCopy();
    for (const tag of ['controller', 'input', 'graphics', 'video', 'rng', 'memballoon']) {
      assert.deepEqual(devices[tag], before?.[tag], tag);
    }
    const agent = (d: XmlNode | undefined) =>
      children(d, 'channel').find((c) => attr(c, 'type') === 'unix');
    assert.deepEqual(agent(devices), agent(before));
    const { mac: _mac, ...nic } = child(before, 'interface') ?? {};
    assert.deepEqual(children(devices, 'interface')[0], nic, 'a network NIC keeps all but its MAC');
  });
});

describe('buildRestoredDomain', () => {
  it('says what it left out or changed, one line per device', () => {
    const { xml, changes } = buildRestoredDomain(HOST, 'lab1-copy', VDA);
    assert.equal(xml, buildRestoredDomainXml(HOST, 'lab1-copy', VDA));
    assert.deepEqual(changes, [
      'filesystem /srv/share (share): made read-only',
      "filesystem /srv/live (live): left out (writable virtiofs, the original's folder)",
      "interface hostdev pci 0000:04:10.1: left out (the original's device)",
      "hostdev pci 0000:03:00.0: left out (the original's device)",
      "hostdev usb 0x046d:0xc52b: left out (the original's device)",
      "hostdev scsi scsi_host0: left out (the original's device)",
      "memory nvdimm /var/lib/pmem/lab1.img: left out (the original's backing file)",
      "memory virtio-pmem /var/lib/pmem/lab1-pmem.img: left out (the original's backing file)",
      "serial 0: log /var/log/lab1/serial0-qemu.log left out (the original's log)",
      "serial 0: /var/log/lab1/serial.log replaced by a pty (the original's file)",
      "serial 1: log /var/log/lab1/serial1-qemu.log left out (the original's log)",
      "console 0: /var/log/lab1/serial.log replaced by a pty (the original's file)",
      "channel org.example.trace: /var/log/lab1/trace.log replaced by a pty (the original's file)",
      "parallel 0: /var/log/lab1/lpt.log replaced by a pty (the original's file)",
      'tpm state /srv/swtpm/lab1: left out (a fresh state)',
      'shmem lab1-shm: left out (shared with the original)',
    ]);
  });

  it('reports the writable disks it leaves out, and nothing for a plain domain', () => {
    assert.deepEqual(buildRestoredDomain(UEFI, 'web1-copy', VDA.slice(0, 1)).changes, [
      'disk vdb: left out (writable, not restored)',
      'disk vdc: left out (writable, not restored)',
    ]);
    const plain = buildRestoredDomain(XML, 'web1-copy', [
      { target: 'vda', file: '/srv/r/vda.raw', format: 'raw' },
      { target: 'vdb', file: '/srv/r/vdb.qcow2', format: 'qcow2' },
    ]);
    assert.deepEqual(plain.changes, []);
  });
});
