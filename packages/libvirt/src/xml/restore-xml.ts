/**
 * Domain XML for a restored copy: a new name, no UUID (libvirt makes one), no MAC addresses
 * (libvirt makes new ones, so the copy never clashes with the original on a network), and each
 * restored disk pointing at its restored file. Order-preserving: everything else stays as written.
 */
import { XMLBuilder, XMLParser } from 'fast-xml-parser';

/** A restored disk. */
export interface RestoredDiskSource {
  /** Disk target (`vda`). */
  target: string;
  /** Restored image file. */
  file: string;
  /** Its format (`qcow2`, `raw`). */
  format: string;
}

type Ordered = Record<string, unknown> & { ':@'?: Record<string, string> };

const parser = new XMLParser({
  ignoreAttributes: false,
  preserveOrder: true,
  parseAttributeValue: false,
  parseTagValue: false,
  trimValues: false,
});
const builder = new XMLBuilder({ ignoreAttributes: false, preserveOrder: true });

function tagOf(n: Ordered): string | undefined {
  return Object.keys(n).find((k) => k !== ':@');
}

function kids(n: Ordered): Ordered[] {
  const t = tagOf(n);
  const v = t === undefined ? undefined : n[t];
  return Array.isArray(v) ? (v as Ordered[]) : [];
}

function setKids(n: Ordered, list: Ordered[]): void {
  const t = tagOf(n);
  if (t !== undefined) {
    n[t] = list;
  }
}

function rewriteDisk(disk: Ordered, restored: readonly RestoredDiskSource[]): Ordered {
  const target = kids(disk).find((c) => tagOf(c) === 'target')?.[':@']?.['@_dev'];
  const r = restored.find((x) => x.target === target);
  if (r === undefined) {
    return disk;
  }
  disk[':@'] = { ...disk[':@'], '@_type': 'file' };
  const list = kids(disk).filter((c) => tagOf(c) !== 'backingStore');
  for (const c of list) {
    if (tagOf(c) === 'source') {
      c[':@'] = { '@_file': r.file };
      setKids(c, []);
    } else if (tagOf(c) === 'driver') {
      c[':@'] = { ...c[':@'], '@_type': r.format };
    }
  }
  setKids(disk, list);
  return disk;
}

function rewriteDevices(devices: Ordered, restored: readonly RestoredDiskSource[]): void {
  const out: Ordered[] = [];
  for (const d of kids(devices)) {
    const t = tagOf(d);
    if (t === 'disk') {
      out.push(rewriteDisk(d, restored));
    } else if (t === 'interface') {
      setKids(
        d,
        kids(d).filter((c) => tagOf(c) !== 'mac'),
      );
      out.push(d);
    } else {
      out.push(d);
    }
  }
  setKids(devices, out);
}

/** The domain XML of a restored copy named `name` using the restored disks. */
export function buildRestoredDomainXml(
  domainXml: string,
  name: string,
  disks: readonly RestoredDiskSource[],
): string {
  const doc = parser.parse(domainXml) as Ordered[];
  const domain = doc.find((n) => tagOf(n) === 'domain');
  if (domain === undefined) {
    throw new Error('expected <domain> XML');
  }
  const list = kids(domain).filter((c) => tagOf(c) !== 'uuid' && tagOf(c) !== 'id');
  for (const c of list) {
    if (tagOf(c) === 'name') {
      setKids(c, [{ '#text': name }]);
    } else if (tagOf(c) === 'devices') {
      rewriteDevices(c, disks);
    }
  }
  setKids(domain, list);
  if (domain[':@']) {
    delete domain[':@']['@_id'];
  }
  return builder.build(doc);
}
