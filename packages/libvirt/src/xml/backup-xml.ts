/**
 * Backup XML: build pull- and push-mode `<domainbackup>`, parse the running job's description.
 */
import { attr, buildXml, child, childText, children, parseRoot, type XmlNode } from './xml.js';

/** A disk of a pull backup. */
export interface PullDiskSpec {
  /** Disk target (`vda`). */
  name: string;
  /** false excludes the disk (`backup='no'`). @default true */
  backup?: boolean;
  /** Scratch qcow2 holding copy-before-write data (file must be on a filesystem QEMU can write). */
  scratchFile?: string;
  /** NBD export name. @default the target */
  exportName?: string;
  /** `full` reads this disk whole in an incremental backup (a disk without bitmaps). */
  backupMode?: 'full' | 'incremental';
}

/** A pull-mode backup: QEMU serves the disks over NBD on a unix socket. */
export interface PullBackupSpec {
  /** Unix socket path of the NBD server (≤ 107 bytes). */
  socket: string;
  /** Checkpoint to back up changes since (incremental); omitted = full. */
  incremental?: string;
  /** Disks to include or exclude; omitted = every disk. */
  disks?: PullDiskSpec[];
}

/** A disk of a push backup. */
export interface PushDiskSpec {
  name: string;
  backup?: boolean;
  /** Target file QEMU writes to. */
  targetFile?: string;
  /** Target format, e.g. `qcow2`. */
  format?: string;
}

/** A push-mode backup: QEMU writes the disks into target files. */
export interface PushBackupSpec {
  incremental?: string;
  disks?: PushDiskSpec[];
}

function yesNo(b: boolean | undefined): 'yes' | 'no' {
  return b === false ? 'no' : 'yes';
}

function pullDisk(d: PullDiskSpec): XmlNode {
  const n: XmlNode = { '@_name': d.name, '@_backup': yesNo(d.backup) };
  if (d.backup !== false) {
    n['@_type'] = 'file';
    if (d.exportName !== undefined) {
      n['@_exportname'] = d.exportName;
    }
    if (d.backupMode !== undefined) {
      n['@_backupmode'] = d.backupMode;
    }
    if (d.scratchFile !== undefined) {
      n['scratch'] = { '@_file': d.scratchFile };
    }
  }
  return n;
}

/** Builds pull-mode `<domainbackup>` XML (unix socket, scratch files, incremental, disk selection). */
export function buildPullBackupXml(spec: PullBackupSpec): string {
  const root: XmlNode = { '@_mode': 'pull' };
  if (spec.incremental !== undefined) {
    root['incremental'] = spec.incremental;
  }
  root['server'] = { '@_transport': 'unix', '@_socket': spec.socket };
  if (spec.disks) {
    root['disks'] = { disk: spec.disks.map(pullDisk) };
  }
  return buildXml('domainbackup', root);
}

/** Builds push-mode `<domainbackup>` XML. */
export function buildPushBackupXml(spec: PushBackupSpec): string {
  const root: XmlNode = { '@_mode': 'push' };
  if (spec.incremental !== undefined) {
    root['incremental'] = spec.incremental;
  }
  if (spec.disks) {
    root['disks'] = {
      disk: spec.disks.map((d) => {
        const n: XmlNode = { '@_name': d.name, '@_backup': yesNo(d.backup) };
        if (d.backup !== false) {
          n['@_type'] = 'file';
          if (d.targetFile !== undefined) {
            n['target'] = { '@_file': d.targetFile };
          }
          if (d.format !== undefined) {
            n['driver'] = { '@_type': d.format };
          }
        }
        return n;
      }),
    };
  }
  return buildXml('domainbackup', root);
}

/** A disk of a running backup job. */
export interface BackupJobDisk {
  name: string;
  backup: boolean;
  /** `full` or `incremental`. */
  backupMode?: string;
  /** Checkpoint the incremental starts from. */
  incremental?: string;
  /** NBD export name (pull mode). */
  exportName?: string;
  /** Dirty bitmap exported over NBD as `qemu:dirty-bitmap:<exportBitmap>` (incremental pull). */
  exportBitmap?: string;
  scratchFile?: string;
  targetFile?: string;
}

/** A running backup job (virDomainBackupGetXMLDesc). */
export interface BackupJobDescription {
  mode: 'pull' | 'push';
  id?: number;
  incremental?: string;
  server?: { transport: string; socket?: string; name?: string; port?: string };
  disks: BackupJobDisk[];
}

function parseJobDisk(d: XmlNode): BackupJobDisk {
  const out: BackupJobDisk = { name: attr(d, 'name') ?? '', backup: attr(d, 'backup') !== 'no' };
  const map: [keyof BackupJobDisk, string | undefined][] = [
    ['backupMode', attr(d, 'backupmode')],
    ['incremental', attr(d, 'incremental')],
    ['exportName', attr(d, 'exportname')],
    ['exportBitmap', attr(d, 'exportbitmap')],
    ['scratchFile', attr(child(d, 'scratch'), 'file')],
    ['targetFile', attr(child(d, 'target'), 'file')],
  ];
  for (const [k, v] of map) {
    if (v !== undefined) {
      (out as unknown as Record<string, string>)[k] = v;
    }
  }
  return out;
}

/** Parses the running backup job's XML. */
export function parseBackupXml(xml: string): BackupJobDescription {
  const root = parseRoot(xml, 'domainbackup');
  const out: BackupJobDescription = {
    mode: attr(root, 'mode') === 'push' ? 'push' : 'pull',
    disks: children(child(root, 'disks'), 'disk').map(parseJobDisk),
  };
  const id = attr(root, 'id');
  if (id !== undefined) {
    out.id = Number(id);
  }
  const inc = childText(root, 'incremental');
  if (inc !== undefined) {
    out.incremental = inc;
  }
  const server = child(root, 'server');
  if (server) {
    const s: NonNullable<BackupJobDescription['server']> = {
      transport: attr(server, 'transport') ?? 'tcp',
    };
    for (const k of ['socket', 'name', 'port'] as const) {
      const v = attr(server, k);
      if (v !== undefined) {
        s[k] = v;
      }
    }
    out.server = s;
  }
  return out;
}
