/**
 * Dirty bitmaps per disk with their flags: from QMP for a running domain, from `qemu-img info` for a
 * stopped one, both mapped to one shape.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

import type { Domain } from '../domain.js';
import type { DiskInfo } from '../xml/domain-xml.js';

const execFileAsync = promisify(execFile);

/** One dirty bitmap and its state. */
export interface BitmapInfo {
  name: string;
  /** Tracks writes now (QMP `recording`; qemu-img flag `auto`). */
  recording: boolean;
  /** Stored in the qcow2 on close (always true in qemu-img's view). */
  persistent: boolean;
  /** Not trustworthy: QEMU died without storing it (QMP `inconsistent`; qemu-img flag `in-use`). */
  inconsistent: boolean;
  /** In use by a job (QMP `busy`). */
  busy: boolean;
  granularity?: number;
  /** Dirty bytes (QMP only). */
  count?: number;
}

/** The bitmaps of one disk. */
export interface DiskBitmaps {
  /** Disk target (`vda`). */
  target: string;
  /** Node carrying the bitmaps: the top image's format node (running), or the image path (stopped). */
  node: string;
  /** Current top node of the disk from query-block (running only; a backup's filter while one runs). */
  topNode?: string;
  bitmaps: BitmapInfo[];
  /** The image as its running QEMU opened it (running only): spares a `qemu-img info`. */
  image?: NodeImage;
}

/** What QEMU reports of an image it has open. */
export interface NodeImage {
  /** Virtual size in bytes. */
  virtualSize: number;
  /** Image format (`qcow2`, `raw`). */
  format: string;
  /** qcow2's compat level (`0.10` is v2, `1.1` is v3); absent for other formats. */
  compat?: string;
}

function imageOf(node: QmpNamedNode | undefined): NodeImage | undefined {
  const i = node?.image;
  if (i?.['virtual-size'] === undefined || i.format === undefined) {
    return undefined;
  }
  const compat = i['format-specific']?.data?.compat;
  return {
    virtualSize: i['virtual-size'],
    format: i.format,
    ...(compat !== undefined ? { compat } : {}),
  };
}

interface QmpBitmap {
  /** Absent on the anonymous bitmaps of block jobs. */
  name?: string;
  recording?: boolean;
  persistent?: boolean;
  inconsistent?: boolean;
  busy?: boolean;
  granularity?: number;
  count?: number;
}

interface QmpNamedNode {
  'node-name': string;
  'dirty-bitmaps'?: QmpBitmap[];
  image?: {
    'virtual-size'?: number;
    format?: string;
    'format-specific'?: { data?: { compat?: string } };
  };
}

interface QmpBlock {
  device?: string;
  qdev?: string;
  inserted?: { 'node-name'?: string };
}

function fromQmp(b: QmpBitmap & { name: string }): BitmapInfo {
  const out: BitmapInfo = {
    name: b.name,
    recording: b.recording ?? false,
    persistent: b.persistent ?? false,
    inconsistent: b.inconsistent ?? false,
    busy: b.busy ?? false,
  };
  if (b.granularity !== undefined) {
    out.granularity = b.granularity;
  }
  if (b.count !== undefined) {
    out.count = b.count;
  }
  return out;
}

/** The query-block entry of a disk: its qdev is the alias or the alias's virtio backend path. */
function blockOf(blocks: QmpBlock[], alias: string | undefined): QmpBlock | undefined {
  if (alias === undefined) {
    return undefined;
  }
  return blocks.find(
    (b) => b.qdev === alias || (b.qdev ?? '').startsWith(`/machine/peripheral/${alias}/`),
  );
}

/** Node of the top image's format layer: libvirt names it `libvirt-<index>-format`. */
function formatNodeOf(disk: DiskInfo, top: string | undefined): string | undefined {
  return disk.source?.index !== undefined ? `libvirt-${disk.source.index}-format` : top;
}

/** Bitmaps of every disk of a running domain (query-block + query-named-block-nodes). */
export async function runningDiskBitmaps(domain: Domain): Promise<DiskBitmaps[]> {
  const desc = await domain.describe();
  const blocks = (await domain.qmp('query-block')) as QmpBlock[];
  const nodes = (await domain.qmp('query-named-block-nodes', { flat: true })) as QmpNamedNode[];
  const out: DiskBitmaps[] = [];
  for (const disk of desc.disks.filter((d) => d.device === 'disk')) {
    const top = blockOf(blocks, disk.alias)?.inserted?.['node-name'];
    const node = formatNodeOf(disk, top);
    if (node === undefined) {
      continue;
    }
    const named = nodes.find((n) => n['node-name'] === node);
    const entry: DiskBitmaps = {
      target: disk.target,
      node,
      // a running block job's own bitmaps are anonymous: they are no checkpoint's
      bitmaps: (named?.['dirty-bitmaps'] ?? [])
        .filter(
          (b): b is QmpBitmap & { name: string } => typeof b.name === 'string' && b.name !== '',
        )
        .map(fromQmp),
    };
    if (top !== undefined) {
      entry.topNode = top;
    }
    const image = imageOf(named);
    if (image !== undefined) {
      entry.image = image;
    }
    out.push(entry);
  }
  return out;
}

/** Removes a bitmap from a running domain's disk (QMP block-dirty-bitmap-remove on its node). */
export async function removeRunningBitmap(
  domain: Domain,
  target: string,
  name: string,
): Promise<void> {
  const disk = (await runningDiskBitmaps(domain)).find((d) => d.target === target);
  if (!disk) {
    throw new Error(`domain ${domain.name} has no disk ${target} with a block node`);
  }
  await domain.qmp('block-dirty-bitmap-remove', { node: disk.node, name });
}

interface QemuImgInfo {
  'format-specific'?: {
    type?: string;
    data?: { bitmaps?: { name: string; flags?: string[]; granularity?: number }[] };
  };
}

/** Bitmaps of one qcow2 image via `qemu-img info --output=json -U` (works while QEMU holds it). */
export async function imageBitmaps(path: string, qemuImg = 'qemu-img'): Promise<BitmapInfo[]> {
  const { stdout } = await execFileAsync(qemuImg, ['info', '--output=json', '-U', path]);
  const info = JSON.parse(stdout) as QemuImgInfo;
  return (info['format-specific']?.data?.bitmaps ?? []).map((b) => {
    const flags = b.flags ?? [];
    const out: BitmapInfo = {
      name: b.name,
      recording: flags.includes('auto'),
      persistent: true,
      inconsistent: flags.includes('in-use'),
      busy: false,
    };
    if (b.granularity !== undefined) {
      out.granularity = b.granularity;
    }
    return out;
  });
}

/** Bitmaps of every qcow2 file disk of a stopped domain (from its inactive XML). */
export async function offlineDiskBitmaps(
  domain: Domain,
  qemuImg = 'qemu-img',
): Promise<DiskBitmaps[]> {
  const desc = await domain.describe();
  const out: DiskBitmaps[] = [];
  for (const disk of desc.disks) {
    if (disk.device !== 'disk' || disk.path === undefined || disk.source?.format !== 'qcow2') {
      continue;
    }
    out.push({
      target: disk.target,
      node: disk.path,
      bitmaps: await imageBitmaps(disk.path, qemuImg),
    });
  }
  return out;
}

/** Bitmaps per disk whatever the domain's state: QMP when running, qemu-img when stopped. */
export async function diskBitmaps(domain: Domain): Promise<DiskBitmaps[]> {
  const { active } = await domain.status();
  return active ? runningDiskBitmaps(domain) : offlineDiskBitmaps(domain);
}
