/**
 * Domain XML for a restored copy: a new name, no UUID (libvirt makes one), no MAC addresses
 * (libvirt makes new ones, so the copy never clashes with the original on a network), and each
 * restored disk pointing at its restored file. Nothing of the original's that the copy could
 * write or take its identity from stays: writable disks that were not restored are left out (the
 * copy would otherwise write into the original's disks, perhaps while it runs), the UEFI variable
 * store gets a fresh file from its template, and the SMBIOS UUID and VM generation id go (libvirt
 * would take the UUID from SMBIOS). Order-preserving: everything else stays as written.
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

/**
 * A disk the guest can write: not a cdrom, not marked read-only. A floppy without `<readonly/>` is
 * writable too, and backups skip it: kept, the copy would write into the original's image.
 */
function writable(disk: Ordered): boolean {
  const device = disk[':@']?.['@_device'] ?? 'disk';
  return device !== 'cdrom' && !kids(disk).some((c) => tagOf(c) === 'readonly');
}

/** The restored disk, rewritten; null for a writable disk not restored (left out of the copy). */
function rewriteDisk(disk: Ordered, restored: readonly RestoredDiskSource[]): Ordered | null {
  const target = kids(disk).find((c) => tagOf(c) === 'target')?.[':@']?.['@_dev'];
  const r = restored.find((x) => x.target === target);
  if (r === undefined) {
    return writable(disk) ? null : disk;
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
      const disk = rewriteDisk(d, restored);
      if (disk !== null) {
        out.push(disk);
      }
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

/**
 * `<nvram>` without the original's file (text or `<source>`): libvirt makes the copy's own from
 * the template, instead of the copy writing (and `undefine --nvram` deleting) the original's.
 */
function freshNvram(os: Ordered): void {
  for (const c of kids(os)) {
    if (tagOf(c) === 'nvram') {
      setKids(c, []);
      const attrs: Record<string, string> = {};
      for (const k of ['@_template', '@_templateFormat', '@_format']) {
        const v = c[':@']?.[k];
        if (v !== undefined) {
          attrs[k] = v;
        }
      }
      c[':@'] = attrs;
    }
  }
}

/** Removes `<entry name='uuid'>` from every SMBIOS block under `node` (`<sysinfo>`). */
function dropSmbiosUuid(node: Ordered): void {
  const list = kids(node).filter((c) => !(tagOf(c) === 'entry' && c[':@']?.['@_name'] === 'uuid'));
  setKids(node, list);
  for (const c of list) {
    if (tagOf(c) !== '#text') {
      dropSmbiosUuid(c);
    }
  }
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
    const t = tagOf(c);
    if (t === 'name') {
      setKids(c, [{ '#text': name }]);
    } else if (t === 'devices') {
      rewriteDevices(c, disks);
    } else if (t === 'os') {
      freshNvram(c);
    } else if (t === 'sysinfo') {
      dropSmbiosUuid(c);
    } else if (t === 'genid') {
      setKids(c, []); // empty: libvirt generates a new one
    }
  }
  setKids(domain, list);
  if (domain[':@']) {
    delete domain[':@']['@_id'];
  }
  return builder.build(doc);
}
