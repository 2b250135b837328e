/**
 * Domain XML for a restored copy: a new name, no UUID (libvirt makes one), no MAC addresses
 * (libvirt makes new ones, so the copy never clashes with the original on a network), and each
 * restored disk pointing at its restored file. Nothing of the original's that the copy could
 * write or take its identity from stays: writable disks that were not restored are left out (the
 * copy would otherwise write into the original's disks, perhaps while it runs), the UEFI variable
 * store gets a fresh file from its template, and the SMBIOS UUID and VM generation id go (libvirt
 * would take the UUID from SMBIOS). Devices that reach the original's host resources are made
 * safe: a writable shared folder becomes read-only (virtiofs is left out), host device passthrough
 * (`<hostdev>`, `<interface type='hostdev'>`), file-backed NVDIMM and virtio-pmem memory, shared
 * memory (`<shmem>`) and a passthrough or external TPM are left out, an emulated TPM loses a
 * custom state location, and file-backed serial, console, channel and parallel devices become
 * ptys, without `<log file>`. Order-preserving: everything else stays as written.
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

/** A restored copy's domain XML and what was changed to keep it off the original's resources. */
export interface RestoredDomain {
  /** The domain XML to define. */
  xml: string;
  /**
   * One line per device left out or changed (`hostdev pci 0000:03:00.0: left out (…)`), in
   * document order, for the user to check before starting the copy.
   */
  changes: string[];
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

function kids(n: Ordered | undefined): Ordered[] {
  const t = n === undefined ? undefined : tagOf(n);
  const v = t === undefined ? undefined : n?.[t];
  return Array.isArray(v) ? (v as Ordered[]) : [];
}

function setKids(n: Ordered, list: Ordered[]): void {
  const t = tagOf(n);
  if (t !== undefined) {
    n[t] = list;
  }
}

function child(n: Ordered | undefined, tag: string): Ordered | undefined {
  return kids(n).find((c) => tagOf(c) === tag);
}

function attr(n: Ordered | undefined, name: string): string | undefined {
  return n?.[':@']?.[`@_${name}`];
}

function text(n: Ordered | undefined): string {
  return kids(n)
    .map((c) => (typeof c['#text'] === 'string' ? c['#text'] : ''))
    .join('')
    .trim();
}

function dropKids(n: Ordered, tag: string): void {
  setKids(
    n,
    kids(n).filter((c) => tagOf(c) !== tag),
  );
}

/** What the device rewrites share: the restored disks, and what they report. */
interface Rewriting {
  restored: readonly RestoredDiskSource[];
  changes: string[];
  /** Size of the memory devices left out, in KiB: `<memory>` counts them. */
  droppedKiB: bigint;
}

/** A device's rewrite: the device to keep (changed or not), or null to leave it out. */
type Rewrite = (device: Ordered, rw: Rewriting) => Ordered | null;

/**
 * A disk the guest can write: not a cdrom, not marked read-only. A floppy without `<readonly/>` is
 * writable too, and backups skip it: kept, the copy would write into the original's image.
 */
function writable(disk: Ordered): boolean {
  const device = attr(disk, 'device') ?? 'disk';
  return device !== 'cdrom' && child(disk, 'readonly') === undefined;
}

/** The restored disk, rewritten; null for a writable disk not restored (left out of the copy). */
function rewriteDisk(disk: Ordered, rw: Rewriting): Ordered | null {
  const target = attr(child(disk, 'target'), 'dev');
  const r = rw.restored.find((x) => x.target === target);
  if (r === undefined) {
    if (!writable(disk)) {
      return disk;
    }
    rw.changes.push(`disk ${target ?? '?'}: left out (writable, not restored)`);
    return null;
  }
  disk[':@'] = { ...disk[':@'], '@_type': 'file' };
  dropKids(disk, 'backingStore');
  for (const c of kids(disk)) {
    if (tagOf(c) === 'source') {
      c[':@'] = { '@_file': r.file };
      setKids(c, []);
    } else if (tagOf(c) === 'driver') {
      c[':@'] = { ...c[':@'], '@_type': r.format };
    }
  }
  return disk;
}

/** `pci 0000:03:00.0`, `usb 046d:c52b`, `mdev <uuid>`: enough for the user to recognise it. */
function hostdevName(d: Ordered): string {
  const source = child(d, 'source');
  const a = child(source, 'address');
  // an <interface type='hostdev'> names the bus only on its address
  const bus = attr(a, 'type') ?? attr(d, 'type') ?? '?';
  const hex = (k: string, width: number): string =>
    (attr(a, k) ?? '0').replace(/^0x/i, '').padStart(width, '0');
  let id: string | undefined;
  if (attr(a, 'slot') !== undefined) {
    id = `${hex('domain', 4)}:${hex('bus', 2)}:${hex('slot', 2)}.${hex('function', 1)}`;
  } else if (child(source, 'vendor') !== undefined) {
    id = `${attr(child(source, 'vendor'), 'id')}:${attr(child(source, 'product'), 'id')}`;
  } else if (attr(a, 'device') !== undefined) {
    id = `bus ${attr(a, 'bus')} device ${attr(a, 'device')}`;
  } else {
    id = attr(a, 'uuid') ?? attr(child(source, 'adapter'), 'name') ?? attr(source, 'wwpn');
  }
  return id === undefined ? bus : `${bus} ${id}`;
}

/**
 * Without its MAC (libvirt makes a new one). A passthrough NIC (`type='hostdev'`, an SR-IOV VF)
 * is left out: it is the original's physical device, as a `<hostdev>` is.
 */
function rewriteInterface(nic: Ordered, rw: Rewriting): Ordered | null {
  if (attr(nic, 'type') === 'hostdev') {
    rw.changes.push(`interface hostdev ${hostdevName(nic)}: left out (the original's device)`);
    return null;
  }
  dropKids(nic, 'mac');
  return nic;
}

/** Host device passthrough: the copy would take the original's device (or storage never backed up). */
function dropHostdev(d: Ordered, rw: Rewriting): null {
  rw.changes.push(`hostdev ${hostdevName(d)}: left out (the original's device)`);
  return null;
}

/**
 * A shared folder the guest can write becomes read-only: the copy boots with the data visible but
 * cannot write the original's live folder. virtiofs is left out instead: libvirt before 11
 * (Debian 12 has 9.0) refuses `<readonly/>` on it, and a refused definition loses the restore.
 */
function rewriteFilesystem(fs: Ordered, rw: Rewriting): Ordered | null {
  if (child(fs, 'readonly') !== undefined) {
    return fs;
  }
  const s = child(fs, 'source');
  const from = attr(s, 'dir') ?? attr(s, 'socket') ?? attr(s, 'file') ?? attr(s, 'name') ?? '?';
  const name = `filesystem ${from} (${attr(child(fs, 'target'), 'dir') ?? '?'})`;
  if (attr(child(fs, 'driver'), 'type') === 'virtiofs') {
    rw.changes.push(`${name}: left out (writable virtiofs, the original's folder)`);
    return null;
  }
  setKids(fs, [...kids(fs), { readonly: [] }]);
  rw.changes.push(`${name}: made read-only`);
  return fs;
}

/** KiB (rounded up, as libvirt does) of a libvirt scaled integer; null when unreadable. */
function toKiB(value: string, unit = 'KiB'): bigint | null {
  const v = value.trim();
  const u = unit.toLowerCase();
  const power = 'kmgtpe'.indexOf(u.charAt(0)) + 1;
  const suffix = u.slice(1);
  let bytes = 1n;
  if (!['b', 'byte', 'bytes'].includes(u)) {
    const base = suffix === '' || suffix === 'ib' ? 1024n : suffix === 'b' ? 1000n : 0n;
    bytes = power === 0 ? 0n : base ** BigInt(power);
  }
  return /^\d+$/.test(v) && bytes > 0n ? (BigInt(v) * bytes + 1023n) / 1024n : null;
}

/**
 * An NVDIMM or virtio-pmem backed by a host file is left out: QEMU maps the file shared, so the
 * copy would write the original's (never backed up, and not the snapshot's state anyway).
 */
function rewriteMemoryDevice(mem: Ordered, rw: Rewriting): Ordered | null {
  const model = attr(mem, 'model');
  const path = text(child(child(mem, 'source'), 'path'));
  if ((model !== 'nvdimm' && model !== 'virtio-pmem') || path === '') {
    return mem;
  }
  const size = child(child(mem, 'target'), 'size');
  rw.droppedKiB += toKiB(text(size), attr(size, 'unit')) ?? 0n;
  rw.changes.push(`memory ${model} ${path}: left out (the original's backing file)`);
  return null;
}

/**
 * A serial, console, channel or parallel device writing a host file becomes a pty, and no device
 * keeps a `<log file>`: QEMU truncates those files when the copy starts, the original's logs.
 */
function rewriteCharDevice(chr: Ordered, rw: Rewriting): Ordered {
  const target = child(chr, 'target');
  const name = `${tagOf(chr)} ${attr(target, 'port') ?? attr(target, 'name') ?? ''}`.trimEnd();
  const log = attr(child(chr, 'log'), 'file');
  if (log !== undefined) {
    rw.changes.push(`${name}: log ${log} left out (the original's log)`);
  }
  dropKids(chr, 'log');
  if (attr(chr, 'type') === 'file') {
    const path = attr(child(chr, 'source'), 'path') ?? '?';
    chr[':@'] = { ...chr[':@'], '@_type': 'pty' };
    dropKids(chr, 'source');
    rw.changes.push(`${name}: ${path} replaced by a pty (the original's file)`);
  }
  return chr;
}

/**
 * An emulated TPM keeps its state under the domain's UUID, fresh for the copy, unless a
 * `<source>` names a location (the original's state; swtpm does not lock a file): that goes. A
 * passthrough TPM (the host's) or an external one (the original's swtpm socket) is left out.
 */
function rewriteTpm(tpm: Ordered, rw: Rewriting): Ordered | null {
  const backend = child(tpm, 'backend');
  const type = attr(backend, 'type');
  if (type === 'passthrough' || type === 'external') {
    rw.changes.push(`tpm ${type}: left out (the original's TPM)`);
    return null;
  }
  const source = child(backend, 'source');
  if (backend !== undefined && source !== undefined) {
    dropKids(backend, 'source');
    rw.changes.push(`tpm state ${attr(source, 'path') ?? '?'}: left out (a fresh state)`);
  }
  return tpm;
}

/** Shared memory exists to be shared: the copy would write into the original's region. */
function dropShmem(shmem: Ordered, rw: Rewriting): null {
  rw.changes.push(`shmem ${attr(shmem, 'name') ?? '?'}: left out (shared with the original)`);
  return null;
}

// a Map, not an object: a tag such as `toString` must not find Object.prototype's
const rewrites = new Map<string | undefined, Rewrite>([
  ['disk', rewriteDisk],
  ['interface', rewriteInterface],
  ['hostdev', dropHostdev],
  ['filesystem', rewriteFilesystem],
  ['memory', rewriteMemoryDevice],
  ['serial', rewriteCharDevice],
  ['console', rewriteCharDevice],
  ['channel', rewriteCharDevice],
  ['parallel', rewriteCharDevice],
  ['tpm', rewriteTpm],
  ['shmem', dropShmem],
]);

function rewriteDevices(devices: Ordered, rw: Rewriting): void {
  const out: Ordered[] = [];
  for (const d of kids(devices)) {
    const rewrite = rewrites.get(tagOf(d));
    const kept = rewrite === undefined ? d : rewrite(d, rw);
    if (kept !== null) {
      out.push(kept);
    }
  }
  setKids(devices, out);
}

/**
 * `<memory>` less the memory devices left out: it counts them, and libvirt gives the guest the
 * rest as RAM, so kept as written the copy would get their size as extra RAM.
 */
function shrinkMemory(memory: Ordered, droppedKiB: bigint): void {
  const total = toKiB(text(memory), attr(memory, 'unit'));
  if (droppedKiB > 0n && total !== null && total > droppedKiB) {
    memory[':@'] = { ...memory[':@'], '@_unit': 'KiB' };
    setKids(memory, [{ '#text': String(total - droppedKiB) }]);
  }
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
  const list = kids(node).filter((c) => !(tagOf(c) === 'entry' && attr(c, 'name') === 'uuid'));
  setKids(node, list);
  for (const c of list) {
    if (tagOf(c) !== '#text') {
      dropSmbiosUuid(c);
    }
  }
}

/**
 * The domain XML of a restored copy named `name` using the restored disks, and the devices left
 * out or changed (see the module comment).
 */
export function buildRestoredDomain(
  domainXml: string,
  name: string,
  disks: readonly RestoredDiskSource[],
): RestoredDomain {
  const doc = parser.parse(domainXml) as Ordered[];
  const domain = doc.find((n) => tagOf(n) === 'domain');
  if (domain === undefined) {
    throw new Error('expected <domain> XML');
  }
  const rw: Rewriting = { restored: disks, changes: [], droppedKiB: 0n };
  const list = kids(domain).filter((c) => tagOf(c) !== 'uuid' && tagOf(c) !== 'id');
  for (const c of list) {
    const t = tagOf(c);
    if (t === 'name') {
      setKids(c, [{ '#text': name }]);
    } else if (t === 'devices') {
      rewriteDevices(c, rw);
    } else if (t === 'os') {
      freshNvram(c);
    } else if (t === 'sysinfo') {
      dropSmbiosUuid(c);
    } else if (t === 'genid') {
      setKids(c, []); // empty: libvirt generates a new one
    }
  }
  const memory = list.find((c) => tagOf(c) === 'memory');
  if (memory !== undefined) {
    shrinkMemory(memory, rw.droppedKiB);
  }
  setKids(domain, list);
  if (domain[':@']) {
    delete domain[':@']['@_id'];
  }
  return { xml: builder.build(doc), changes: rw.changes };
}

/** The domain XML of a restored copy named `name` using the restored disks. */
export function buildRestoredDomainXml(
  domainXml: string,
  name: string,
  disks: readonly RestoredDiskSource[],
): string {
  return buildRestoredDomain(domainXml, name, disks).xml;
}
