/**
 * Restore of a snapshot's disks: every chunk's digest checked by the repository reader, written as
 * qcow2 through qemu-nbd and our NBD client, or as a sparse raw file. Holes stay holes.
 */
import { mkdir, open, rm, stat } from 'node:fs/promises';
import path from 'node:path';

import { buildRestoredDomainXml, Connection } from '@virtvault/libvirt';
import { NbdClient } from '@virtvault/nbd';
import { SnapshotReader, type DiskExtent, type Repository } from '@virtvault/repo';

import { EngineError } from './errors.js';
import { qemuImg } from './qemu-img.js';
import { QemuNbd } from './qemu-nbd.js';

/** Output format of a restored disk. */
export type RestoreFormat = 'qcow2' | 'raw';

/** Progress of one restored disk, in bytes of data written. */
export interface RestoreProgress {
  /** Disk target. */
  target: string;
  /** Bytes written so far. */
  bytesWritten: number;
  /** The disk's virtual size. */
  virtualSize: number;
}

/** Options of {@link restoreSnapshot}. */
export interface RestoreOptions {
  /** Opened repository. */
  repo: Repository;
  /** Domain UUID. */
  domainUuid: string;
  /** Snapshot id. */
  snapshotId: string;
  /** Directory to write the disks into (`<target>.<format>`). */
  outputDir: string;
  /** Output format. @default 'qcow2' */
  format?: RestoreFormat;
  /** Only these disk targets. @default every disk */
  disks?: string[];
  /** Progress per disk. */
  onProgress?: (p: RestoreProgress) => void;
}

/** One restored disk. */
export interface RestoredDisk {
  /** Disk target. */
  target: string;
  /** Output file. */
  path: string;
  /** Output format. */
  format: RestoreFormat;
  /** Virtual size in bytes. */
  virtualSize: number;
  /** Bytes of data written (holes excluded). */
  bytesWritten: number;
}

async function refuseExisting(file: string): Promise<void> {
  const exists = await stat(file).then(
    () => true,
    () => false,
  );
  if (exists) {
    throw new EngineError('RESTORE_TARGET_EXISTS', `${file} exists; restore never overwrites`);
  }
}

type Sink = (offset: number, data: Buffer) => Promise<void>;

async function pump(
  extents: AsyncIterable<DiskExtent>,
  sink: Sink,
  progress: RestoreProgress,
  onProgress?: (p: RestoreProgress) => void,
): Promise<void> {
  for await (const e of extents) {
    if (!e.zero) {
      await sink(e.offset, e.data);
      progress.bytesWritten += e.data.length;
      onProgress?.(progress);
    }
  }
}

async function restoreRaw(file: string, size: number, run: (s: Sink) => Promise<void>) {
  const fh = await open(file, 'wx');
  try {
    await fh.truncate(size);
    await run(async (offset, data) => {
      await fh.write(data, 0, data.length, offset);
    });
    await fh.sync();
  } finally {
    await fh.close();
  }
}

async function restoreQcow2(file: string, size: number, run: (s: Sink) => Promise<void>) {
  await qemuImg(['create', '-q', '-f', 'qcow2', file, String(size)]);
  const socket = `${file}.nbd.sock`;
  const server = await QemuNbd.start({
    image: file,
    format: 'qcow2',
    socket,
    exportName: 'restore',
    readOnly: false,
  });
  try {
    const nbd = await NbdClient.connect({ socket, exportName: 'restore' });
    try {
      await run((offset, data) => nbd.write(offset, data));
      await nbd.flush();
    } finally {
      await nbd.close();
    }
  } finally {
    await server.close();
  }
}

/** Restores the disks of a snapshot into `outputDir`; a failed disk's partial file is removed. */
export async function restoreSnapshot(o: RestoreOptions): Promise<RestoredDisk[]> {
  const reader = new SnapshotReader(o.repo, o.domainUuid, o.snapshotId);
  await reader.open();
  const format = o.format ?? 'qcow2';
  const out: RestoredDisk[] = [];
  try {
    await mkdir(o.outputDir, { recursive: true });
    for (const d of reader.manifest.disks) {
      if (o.disks !== undefined && !o.disks.includes(d.target)) {
        continue;
      }
      const file = path.join(o.outputDir, `${d.target}.${format}`);
      await refuseExisting(file);
      const progress = { target: d.target, bytesWritten: 0, virtualSize: d.virtualSize };
      const run = (sink: Sink) => pump(reader.readDisk(d.target), sink, progress, o.onProgress);
      try {
        await (format === 'raw' ? restoreRaw : restoreQcow2)(file, d.virtualSize, run);
      } catch (e) {
        await rm(file, { force: true });
        throw e;
      }
      out.push({ ...progress, path: file, format });
    }
    return out;
  } finally {
    await reader.close();
  }
}

/**
 * Defines a new domain `name` from a snapshot's domain XML with the restored disks (new UUID, new
 * MAC addresses); the original domain is never touched. Returns the new domain's UUID.
 */
export async function defineRestoredDomain(
  uri: string,
  domainXml: string,
  name: string,
  disks: readonly RestoredDisk[],
): Promise<string> {
  const xml = buildRestoredDomainXml(
    domainXml,
    name,
    disks.map((d) => ({ target: d.target, file: d.path, format: d.format })),
  );
  const conn = await Connection.connect(uri);
  try {
    const existing = await conn.lookupByName(name).then(
      () => true,
      () => false,
    );
    if (existing) {
      throw new EngineError('RESTORE_TARGET_EXISTS', `a domain named ${name} exists already`);
    }
    return (await conn.defineDomain(xml)).uuid;
  } finally {
    await conn.close();
  }
}
