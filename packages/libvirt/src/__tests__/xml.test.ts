import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
  buildCheckpointXml,
  buildPullBackupXml,
  buildPushBackupXml,
  parseBackupXml,
  parseCheckpointXml,
  parseDomainXml,
  withoutCheckpointParent,
} from '../index.js';

const DOMAIN_XML = `<domain type='kvm' id='7' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>
  <name>web1</name>
  <uuid>4798e474-1d5b-4b39-9b7a-0d8c2c0d0a11</uuid>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2' cache='none'/>
      <source file='/images/web1-top.qcow2' index='3'/>
      <backingStore type='file' index='2'>
        <format type='qcow2'/>
        <source file='/images/web1-mid.qcow2'/>
        <backingStore type='file' index='1'>
          <format type='raw'/>
          <source file='/images/base.raw'/>
          <backingStore/>
        </backingStore>
      </backingStore>
      <target dev='vda' bus='virtio'/>
      <alias name='ua-vda'/>
    </disk>
    <disk type='block' device='disk'>
      <driver name='qemu' type='raw'/>
      <source dev='/dev/vg0/data'/>
      <target dev='sdb' bus='scsi'/>
      <shareable/>
      <alias name='scsi0-0-0-1'/>
    </disk>
    <disk type='network' device='disk'>
      <driver name='qemu' type='raw'/>
      <source protocol='nbd' name='export1'>
        <host name='10.0.0.5' port='10809'/>
      </source>
      <target dev='vdc' bus='virtio'/>
    </disk>
    <disk type='file' device='cdrom'>
      <driver name='qemu' type='raw'/>
      <target dev='hdc' bus='ide'/>
      <readonly/>
    </disk>
  </devices>
</domain>`;

describe('domain XML', () => {
  const d = parseDomainXml(DOMAIN_XML);

  it('reads name, uuid, type and id', () => {
    assert.equal(d.name, 'web1');
    assert.equal(d.uuid, '4798e474-1d5b-4b39-9b7a-0d8c2c0d0a11');
    assert.equal(d.type, 'kvm');
    assert.equal(d.id, 7);
    assert.deepEqual(
      d.disks.map((x) => x.target),
      ['vda', 'sdb', 'vdc', 'hdc'],
    );
  });

  it('reads a file disk with its backing chain and alias', () => {
    const vda = d.disks[0];
    assert.deepEqual(vda, {
      target: 'vda',
      device: 'disk',
      bus: 'virtio',
      source: { type: 'file', file: '/images/web1-top.qcow2', format: 'qcow2', index: 3 },
      path: '/images/web1-top.qcow2',
      readOnly: false,
      shareable: false,
      alias: 'ua-vda',
      backingChain: [
        { type: 'file', file: '/images/web1-mid.qcow2', format: 'qcow2', index: 2 },
        { type: 'file', file: '/images/base.raw', format: 'raw', index: 1 },
      ],
    });
  });

  it('reads block, network and cdrom disks', () => {
    const [, sdb, vdc, hdc] = d.disks;
    assert.equal(sdb?.source?.dev, '/dev/vg0/data');
    assert.equal(sdb?.path, '/dev/vg0/data');
    assert.equal(sdb?.shareable, true);
    assert.equal(vdc?.source?.protocol, 'nbd');
    assert.deepEqual(vdc?.source?.hosts, [{ name: '10.0.0.5', port: '10809' }]);
    assert.equal(vdc?.path, undefined);
    assert.equal(hdc?.device, 'cdrom');
    assert.equal(hdc?.readOnly, true);
    assert.equal(hdc?.source, undefined);
  });

  it("reads QEMU's DAC label, and none without the DAC model", () => {
    assert.equal(d.dacLabel, undefined);
    const labels =
      "<seclabel type='dynamic' model='apparmor' relabel='yes'><label>libvirt-x</label></seclabel>" +
      "<seclabel type='dynamic' model='dac' relabel='yes'><label>+103:+107</label>" +
      '<imagelabel>+103:+107</imagelabel></seclabel>';
    const running = parseDomainXml(DOMAIN_XML.replace('</devices>', `</devices>${labels}`));
    assert.deepEqual(running.dacLabel, { user: '+103', group: '+107' });
    const named = DOMAIN_XML.replace(
      '</devices>',
      "</devices><seclabel type='static' model='dac'><label>qemu:kvm</label></seclabel>",
    );
    assert.deepEqual(parseDomainXml(named).dacLabel, { user: 'qemu', group: 'kvm' });
  });

  it('rejects XML that is not a domain', () => {
    assert.throws(() => parseDomainXml('<network/>'), /expected <domain>/);
  });
});

describe('checkpoint XML', () => {
  it('builds a checkpoint with per-disk bitmaps and escapes text', () => {
    const xml = buildCheckpointXml({
      name: 'vv-01',
      description: 'a & b <c>',
      disks: [
        { name: 'vda', checkpoint: 'bitmap', bitmap: 'vv-01' },
        { name: 'vdb', checkpoint: 'no' },
      ],
    });
    assert.match(xml, /<name>vv-01<\/name>/);
    assert.match(xml, /a &amp; b &lt;c&gt;/);
    assert.match(xml, /<disk name="vda" checkpoint="bitmap" bitmap="vv-01"/);
    assert.match(xml, /<disk name="vdb" checkpoint="no"/);
    const back = parseCheckpointXml(xml);
    assert.equal(back.description, 'a & b <c>');
    assert.deepEqual(back.disks, [
      { name: 'vda', checkpoint: 'bitmap', bitmap: 'vv-01' },
      { name: 'vdb', checkpoint: 'no' },
    ]);
  });

  it('parses libvirt output with parent, time, size and the embedded domain', () => {
    const c = parseCheckpointXml(`<domaincheckpoint>
      <name>cp1</name><parent><name>cp0</name></parent><creationTime>1700000000</creationTime>
      <disks><disk name='vda' checkpoint='bitmap' bitmap='cp1' size='196608'/></disks>
      <domain type='kvm'><name>web1</name><uuid>4798e474-1d5b-4b39-9b7a-0d8c2c0d0a11</uuid></domain>
    </domaincheckpoint>`);
    assert.deepEqual(c, {
      name: 'cp1',
      parent: 'cp0',
      creationTime: 1700000000,
      disks: [{ name: 'vda', checkpoint: 'bitmap', bitmap: 'cp1', size: 196608 }],
      domainUuid: '4798e474-1d5b-4b39-9b7a-0d8c2c0d0a11',
    });
  });
});

describe('backup XML', () => {
  it('builds an incremental pull backup with scratch files and disk selection', () => {
    const xml = buildPullBackupXml({
      socket: '/run/vv/nbd.sock',
      incremental: 'cp0',
      disks: [
        { name: 'vda', scratchFile: '/scratch/vda.qcow2' },
        { name: 'vdb', backup: false },
      ],
    });
    assert.match(xml, /^<domainbackup mode="pull">/);
    assert.match(xml, /<incremental>cp0<\/incremental>/);
    assert.match(xml, /<server transport="unix" socket="\/run\/vv\/nbd.sock"/);
    assert.match(
      xml,
      /<disk name="vda" backup="yes" type="file">\s*<scratch file="\/scratch\/vda.qcow2"/,
    );
    assert.match(xml, /<disk name="vdb" backup="no"/);
  });

  it('builds a full pull backup without disks or incremental', () => {
    const xml = buildPullBackupXml({ socket: '/s' });
    assert.doesNotMatch(xml, /incremental|<disks/);
  });

  it('builds a push backup', () => {
    const xml = buildPushBackupXml({
      disks: [{ name: 'vda', targetFile: '/b/vda.qcow2', format: 'qcow2' }],
    });
    assert.match(xml, /mode="push"/);
    assert.match(xml, /<target file="\/b\/vda.qcow2"/);
    assert.match(xml, /<driver type="qcow2"/);
  });

  it('parses a running incremental job: export names and bitmaps', () => {
    const job = parseBackupXml(`<domainbackup mode='pull' id='1'>
      <incremental>cp0</incremental>
      <server transport='unix' socket='/run/vv/nbd.sock'/>
      <disks>
        <disk name='vda' backup='yes' type='file' backupmode='incremental' incremental='cp0'
              exportname='vda' exportbitmap='backup-vda' index='5'>
          <driver type='qcow2'/><scratch file='/scratch/vda.qcow2'/>
        </disk>
        <disk name='vdb' backup='no'/>
      </disks>
    </domainbackup>`);
    assert.deepEqual(job, {
      mode: 'pull',
      id: 1,
      incremental: 'cp0',
      server: { transport: 'unix', socket: '/run/vv/nbd.sock' },
      disks: [
        {
          name: 'vda',
          backup: true,
          backupMode: 'incremental',
          incremental: 'cp0',
          exportName: 'vda',
          exportBitmap: 'backup-vda',
          scratchFile: '/scratch/vda.qcow2',
        },
        { name: 'vdb', backup: false },
      ],
    });
  });
});

describe('withoutCheckpointParent', () => {
  it('drops the top-level parent and keeps the embedded domain as written', () => {
    const xml =
      '<domaincheckpoint><name>vv-2</name><parent><name>vv-1</name></parent><creationTime>5</creationTime>' +
      "<disks><disk name='vda' checkpoint='bitmap' bitmap='vv-2'/></disks>" +
      "<domain type='kvm'><name>d</name><uuid>0a69417e-a115-4b20-bb86-e98a5c49d053</uuid><devices>" +
      "<disk type='file'><target dev='vda'/></disk><controller type='usb'/><disk type='file'><target dev='vdb'/></disk>" +
      '</devices></domain></domaincheckpoint>';
    const out = withoutCheckpointParent(xml);
    assert.ok(!out.includes('<parent>'));
    const cp = parseCheckpointXml(out);
    assert.equal(cp.name, 'vv-2');
    assert.equal(cp.parent, undefined);
    assert.equal(cp.domainUuid, '0a69417e-a115-4b20-bb86-e98a5c49d053');
    // sibling order inside the domain survives the round trip
    assert.ok(
      out.indexOf('dev="vda"') < out.indexOf('<controller') &&
        out.indexOf('<controller') < out.indexOf('dev="vdb"'),
    );
  });
});
