/**
 * The agent's configuration file (YAML), parsed and validated with errors that name the field
 * (code `CONFIG_INVALID`). Relative paths are relative to the file's directory.
 *
 * ```yaml
 * listen: 0.0.0.0:7443            # host:port of the gRPC server
 * hostName: host-a                # default: the system host name; must match the certificate
 * tls: { ca: ca.crt, cert: host-a.crt, key: host-a.key }
 * controllerName: controller      # the only client certificate name accepted (SAN DNS, else CN)
 * libvirtUri: qemu:///system
 * repositories:
 *   - { name: main, path: /backups/main, create: true }
 * scratchDir: /var/tmp/virtvault   # NBD sockets (short path: 107 bytes)
 * restoreRoots: [/var/lib/libvirt/images]   # where restores may write
 * maxConcurrentBackups: 2
 * ```
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';

import { parse } from 'yaml';

import { AgentError } from './errors.js';

/** One repository the agent may write into. */
export interface RepositoryConfig {
  /** Name the controller uses. */
  name: string;
  /** Absolute directory. */
  path: string;
  /** Create an empty repository there when none exists. */
  create: boolean;
}

/** The validated configuration. */
export interface AgentConfig {
  /** Listen host. */
  listenHost: string;
  /** Listen port (0: any free port, for tests). */
  listenPort: number;
  /** This host's name (certificate, observations, lineage). */
  hostName: string;
  /** PEM file paths, absolute. */
  tls: { ca: string; cert: string; key: string };
  /** The controller's certificate name. */
  controllerName: string;
  /** libvirt URI. */
  libvirtUri: string;
  /** Repositories by name. */
  repositories: RepositoryConfig[];
  /** Scratch directory, absolute. */
  scratchDir: string;
  /**
   * Absolute directories a restore may write under: the agent runs as root, so a request (with
   * the controller's certificate) must not name any folder of the host.
   */
  restoreRoots: string[];
  /** Backups at once at most. */
  maxConcurrentBackups: number;
}

/** What the configuration cannot know by itself. */
export interface ConfigDefaults {
  /** The system host name (`os.hostname()`). */
  hostName: string;
  /** Directory relative paths are resolved against. */
  baseDir: string;
}

type Obj = Record<string, unknown>;

function invalid(field: string, why: string): AgentError {
  return new AgentError('CONFIG_INVALID', `config: ${field} ${why}`);
}

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function str(o: Obj, field: string, key: string, fallback?: string): string {
  const v = o[key] ?? fallback;
  if (typeof v !== 'string' || v.trim() === '') {
    throw invalid(field, v === undefined ? 'is required' : 'must be a non-empty string');
  }
  return v.trim();
}

function unknownKeys(o: Obj, field: string, allowed: readonly string[]): void {
  const extra = Object.keys(o).filter((k) => !allowed.includes(k));
  if (extra.length > 0) {
    throw invalid(field === '' ? extra.join(', ') : `${field}.${extra.join(', ')}`, 'is unknown');
  }
}

function listen(o: Obj): { listenHost: string; listenPort: number } {
  const raw = o['listen'];
  // a bare port is the likely slip: name the expected form rather than the YAML type
  const v = typeof raw === 'number' ? String(raw) : str(o, 'listen', 'listen');
  const m = /^(\[[0-9a-fA-F:]+\]|[^:\s]+):(\d{1,5})$/.exec(v);
  const port = Number(m?.[2]);
  if (!m?.[1] || !Number.isInteger(port) || port > 65535) {
    throw invalid('listen', `must be host:port (e.g. 0.0.0.0:7443), not "${v}"`);
  }
  return { listenHost: m[1].replace(/^\[|\]$/g, ''), listenPort: port };
}

function tls(o: Obj, base: string): AgentConfig['tls'] {
  const t = o['tls'];
  if (!isObj(t)) {
    throw invalid('tls', 'must be a map with ca, cert and key (file paths)');
  }
  unknownKeys(t, 'tls', ['ca', 'cert', 'key']);
  const file = (k: string) => path.resolve(base, str(t, `tls.${k}`, k));
  return { ca: file('ca'), cert: file('cert'), key: file('key') };
}

function repositories(o: Obj, base: string): RepositoryConfig[] {
  const list = o['repositories'];
  if (!Array.isArray(list) || list.length === 0) {
    throw invalid('repositories', 'must be a non-empty list of {name, path, create?}');
  }
  const names = new Set<string>();
  return list.map((r: unknown, i) => {
    const field = `repositories[${i}]`;
    if (!isObj(r)) {
      throw invalid(field, 'must be a map {name, path, create?}');
    }
    unknownKeys(r, field, ['name', 'path', 'create']);
    const name = str(r, `${field}.name`, 'name');
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name) || names.has(name)) {
      throw invalid(`${field}.name`, `"${name}" must be unique and [A-Za-z0-9._-]`);
    }
    names.add(name);
    const create = r['create'] ?? false;
    if (typeof create !== 'boolean') {
      throw invalid(`${field}.create`, 'must be true or false');
    }
    return { name, path: path.resolve(base, str(r, `${field}.path`, 'path')), create };
  });
}

/** Default restore roots: libvirt's own image folder. */
const RESTORE_ROOTS = ['/var/lib/libvirt/images'];

function restoreRoots(o: Obj, base: string): string[] {
  const list = o['restoreRoots'] ?? RESTORE_ROOTS;
  if (!Array.isArray(list) || list.length === 0) {
    throw invalid('restoreRoots', 'must be a non-empty list of directories');
  }
  return list.map((d: unknown, i) => {
    if (typeof d !== 'string' || d.trim() === '') {
      throw invalid(`restoreRoots[${i}]`, 'must be a directory path');
    }
    return path.resolve(base, d.trim());
  });
}

function positiveInt(o: Obj, field: string, fallback: number): number {
  const v = o[field] ?? fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) {
    throw invalid(field, `must be a whole number of at least 1, not ${JSON.stringify(v)}`);
  }
  return v;
}

const KEYS = [
  'listen',
  'hostName',
  'tls',
  'controllerName',
  'libvirtUri',
  'repositories',
  'scratchDir',
  'restoreRoots',
  'maxConcurrentBackups',
] as const;

/** Parses and validates the YAML text of a configuration. Throws `CONFIG_INVALID`. */
export function parseConfig(text: string, defaults: ConfigDefaults): AgentConfig {
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (e) {
    throw new AgentError('CONFIG_INVALID', `config: not valid YAML: ${(e as Error).message}`, {
      cause: e,
    });
  }
  if (!isObj(doc)) {
    throw new AgentError('CONFIG_INVALID', 'config: must be a YAML map');
  }
  unknownKeys(doc, '', KEYS);
  const base = defaults.baseDir;
  return {
    ...listen(doc),
    hostName: str(doc, 'hostName', 'hostName', defaults.hostName),
    tls: tls(doc, base),
    controllerName: str(doc, 'controllerName', 'controllerName'),
    libvirtUri: str(doc, 'libvirtUri', 'libvirtUri', 'qemu:///system'),
    repositories: repositories(doc, base),
    scratchDir: path.resolve(base, str(doc, 'scratchDir', 'scratchDir', '/var/tmp/virtvault')),
    restoreRoots: restoreRoots(doc, base),
    maxConcurrentBackups: positiveInt(doc, 'maxConcurrentBackups', 2),
  };
}

/** Reads and validates a configuration file. Throws `CONFIG_INVALID` (also when unreadable). */
export async function loadConfig(file: string, hostName: string): Promise<AgentConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new AgentError('CONFIG_INVALID', `config: cannot read ${file}: ${(e as Error).message}`, {
      cause: e,
    });
  }
  return parseConfig(text, { hostName, baseDir: path.dirname(path.resolve(file)) });
}
