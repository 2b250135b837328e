/**
 * Domain XML → disks (target, device, bus, source, format, read-only, shareable, backing chain, alias).
 */
import { attr, child, childText, children, hasChild, parseRoot, type XmlNode } from './xml.js';

/** Where a disk's (or backing image's) data lives. */
export interface DiskSource {
  /** `file`, `block`, `network`, `volume`, … (the disk's `type` attribute). */
  type: string;
  /** File path (type file). */
  file?: string;
  /** Device path (type block). */
  dev?: string;
  /** Protocol (type network), e.g. `nbd`, `rbd`, `iscsi`. */
  protocol?: string;
  /** Network resource name (type network). */
  name?: string;
  /** Hosts of a network source. */
  hosts?: { name?: string; port?: string; transport?: string; socket?: string }[];
  /** Image format (`qcow2`, `raw`). */
  format?: string;
  /** libvirt's node index of this layer (running domains), i.e. QEMU node `libvirt-<index>-format`. */
  index?: number;
}

/** One disk of a domain. */
export interface DiskInfo {
  /** Target device name (`vda`, `sdb`): the disk's name in checkpoint and backup XML. */
  target: string;
  /** `disk`, `cdrom`, `floppy` or `lun`. */
  device: string;
  /** `virtio`, `scsi`, `sata`, `ide`, … */
  bus?: string;
  /** The top image; absent for an empty cdrom. */
  source?: DiskSource;
  /** Path for file/block sources, the convenient identity of a disk. */
  path?: string;
  readOnly: boolean;
  shareable: boolean;
  /** Backing images, nearest first. */
  backingChain: DiskSource[];
  /** Device alias (`ua-vda`, `virtio-disk0`), present on running domains or when set by the user. */
  alias?: string;
}

/** The parts of a domain definition the backup engine needs. */
export interface DomainDescription {
  name: string;
  uuid: string;
  /** Hypervisor type (`kvm`, `qemu`, `test`). */
  type: string;
  /** Present when running. */
  id?: number;
  disks: DiskInfo[];
  /**
   * Who QEMU runs as (a running domain's DAC security label, `+107:+108` or `user:group`): the
   * owner its files and sockets need. Absent without the DAC model.
   */
  dacLabel?: { user: string; group: string };
}

function parseSource(
  type: string,
  src: XmlNode | undefined,
  format: string | undefined,
): DiskSource | undefined {
  if (!src) {
    return undefined;
  }
  const s: DiskSource = { type };
  const set = <K extends keyof DiskSource>(k: K, v: DiskSource[K] | undefined): void => {
    if (v !== undefined) {
      s[k] = v;
    }
  };
  set('file', attr(src, 'file'));
  set('dev', attr(src, 'dev'));
  set('protocol', attr(src, 'protocol'));
  set('name', attr(src, 'name'));
  set('format', format);
  const index = attr(src, 'index');
  set('index', index !== undefined ? Number(index) : undefined);
  const hosts = children(src, 'host').map((h) => {
    const out: NonNullable<DiskSource['hosts']>[number] = {};
    for (const k of ['name', 'port', 'transport', 'socket'] as const) {
      const v = attr(h, k);
      if (v !== undefined) {
        out[k] = v;
      }
    }
    return out;
  });
  set('hosts', hosts.length > 0 ? hosts : undefined);
  return s;
}

function parseBackingChain(disk: XmlNode): DiskSource[] {
  const chain: DiskSource[] = [];
  let bs = child(disk, 'backingStore');
  // an empty <backingStore/> terminates the chain
  while (bs && attr(bs, 'type') !== undefined) {
    const src = parseSource(
      attr(bs, 'type') ?? 'file',
      child(bs, 'source'),
      attr(child(bs, 'format'), 'type'),
    );
    if (src) {
      const index = attr(bs, 'index');
      if (index !== undefined && src.index === undefined) {
        src.index = Number(index);
      }
      chain.push(src);
    }
    bs = child(bs, 'backingStore');
  }
  return chain;
}

function parseDisk(disk: XmlNode): DiskInfo | undefined {
  const target = child(disk, 'target');
  const dev = attr(target, 'dev');
  if (dev === undefined) {
    return undefined;
  }
  const type = attr(disk, 'type') ?? 'file';
  const source = parseSource(type, child(disk, 'source'), attr(child(disk, 'driver'), 'type'));
  const info: DiskInfo = {
    target: dev,
    device: attr(disk, 'device') ?? 'disk',
    readOnly: hasChild(disk, 'readonly'),
    shareable: hasChild(disk, 'shareable'),
    backingChain: parseBackingChain(disk),
  };
  const bus = attr(target, 'bus');
  if (bus !== undefined) {
    info.bus = bus;
  }
  if (source) {
    info.source = source;
    const path = source.file ?? source.dev;
    if (path !== undefined) {
      info.path = path;
    }
  }
  const alias = attr(child(disk, 'alias'), 'name');
  if (alias !== undefined) {
    info.alias = alias;
  }
  return info;
}

function parseDacLabel(dom: XmlNode): DomainDescription['dacLabel'] {
  const sec = children(dom, 'seclabel').find((n) => attr(n, 'model') === 'dac');
  const label = childText(sec, 'label');
  const m = label === undefined ? null : /^([^:]+):([^:]+)$/.exec(label);
  return m?.[1] !== undefined && m[2] !== undefined ? { user: m[1], group: m[2] } : undefined;
}

/** Parses domain XML (`virsh dumpxml`) into name, uuid, type, disks and QEMU's DAC label. */
export function parseDomainXml(xml: string): DomainDescription {
  const dom = parseRoot(xml, 'domain');
  const disks = children(child(dom, 'devices'), 'disk')
    .map(parseDisk)
    .filter((d): d is DiskInfo => d !== undefined);
  const out: DomainDescription = {
    name: childText(dom, 'name') ?? '',
    uuid: childText(dom, 'uuid') ?? '',
    type: attr(dom, 'type') ?? '',
    disks,
  };
  const id = attr(dom, 'id');
  if (id !== undefined) {
    out.id = Number(id);
  }
  const dac = parseDacLabel(dom);
  if (dac) {
    out.dacLabel = dac;
  }
  return out;
}
