/**
 * The lab's TypeScript API: simulated libvirt hosts, OS-less test domains, writes into running guests,
 * and the faults that break checkpoint chains. Every call runs the `test/lab/lab` script, so the shell
 * and the tests drive exactly the same lab.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** Path of the `lab` shell script. */
export const LAB_SCRIPT = fileURLToPath(new URL('../../lab/lab', import.meta.url));

/** Options of a {@link Lab}. */
export interface LabOptions {
  /** State root of the lab (hosts, images, data). @default process.env.LAB_ROOT ?? '/var/tmp/virtvault-lab' */
  root?: string;
  /** Accelerator: `auto` uses KVM when /dev/kvm works. @default process.env.LAB_ACCEL ?? 'auto' */
  accel?: 'auto' | 'kvm' | 'tcg';
  /** Environment to pass through (defaults to the process environment). */
  env?: NodeJS.ProcessEnv;
}

/** Options of {@link Lab.vm}. */
export interface VmOptions {
  /** Host to start the domain on. @default 'a' */
  host?: string;
  /** Number of qcow2 disks (vda, vdb, ...). @default 1 */
  disks?: number;
  /** Create a transient domain (`virsh create`). @default false */
  transient?: boolean;
}

/** What to write with {@link Lab.write}: a repeated byte or deterministic random data. */
export type WriteData = { pattern: number } | { randomSeed: number | string };

/** Error of a failed lab command, with the command's stderr. */
export class LabError extends Error {
  /** Stable code of every lab failure. */
  readonly code = 'LAB_COMMAND_FAILED';
  /** What the script printed on stderr. */
  readonly stderr: string;

  /**
   * @param args the lab command
   * @param stderr its stderr
   * @param cause the underlying exec error
   */
  constructor(args: string[], stderr: string, cause: unknown) {
    super(`lab ${args.join(' ')} failed: ${stderr.trim().split('\n').slice(-3).join(' | ')}`, {
      cause,
    });
    this.name = 'LabError';
    this.stderr = stderr;
  }
}

/** Drives the lab. Cheap to create; holds no resources itself (`down()` stops the daemons). */
export class Lab {
  /** The lab's state root. */
  readonly root: string;
  private readonly env: NodeJS.ProcessEnv;

  /** @param options where the lab lives and how guests run */
  constructor(options: LabOptions = {}) {
    const base = options.env ?? process.env;
    this.root = options.root ?? base['LAB_ROOT'] ?? '/var/tmp/virtvault-lab';
    this.env = { ...base, LAB_ROOT: this.root };
    if (options.accel) {
      this.env['LAB_ACCEL'] = options.accel;
    }
  }

  /** Runs a lab command and returns its stdout, trimmed. */
  run(...args: string[]): Promise<string> {
    return new Promise((resolve, reject) => {
      execFile(
        'bash',
        [LAB_SCRIPT, ...args],
        { env: this.env, maxBuffer: 16 * 1024 * 1024 },
        (err, stdout, stderr) => {
          if (err) {
            reject(new LabError(args, stderr, err));
          } else {
            resolve(stdout.trim());
          }
        },
      );
    });
  }

  /** Installs what is missing and starts the daemons of each host (idempotent, fast when up). */
  async up(hosts: string[] = ['a']): Promise<void> {
    await this.run('up', ...hosts);
  }

  /** Stops the given hosts, or every host and the services when none is named. */
  async down(hosts: string[] = []): Promise<void> {
    await this.run('down', ...hosts);
  }

  /** Starts Postgres and Redis on their test ports. */
  async servicesUp(): Promise<void> {
    await this.run('services', 'up');
  }

  /** The libvirt URI of a host. */
  uri(host = 'a'): Promise<string> {
    return this.run('uri', host);
  }

  /** Creates and starts an OS-less domain with `disks` qcow2 disks of `size` (qemu-img syntax). */
  async vm(name: string, size: string, options: VmOptions = {}): Promise<void> {
    const args = ['vm', name, size, '--host', options.host ?? 'a'];
    args.push('--disks', String(options.disks ?? 1));
    if (options.transient) {
      args.push('--transient');
    }
    await this.run(...args);
  }

  /** Destroys and undefines a domain (checkpoint metadata first); its images stay. */
  async rmvm(name: string): Promise<void> {
    await this.run('rmvm', name);
  }

  /** The host a domain runs on (or is defined on). */
  where(name: string): Promise<string> {
    return this.run('where', name);
  }

  /** Path of a domain's image for a disk target. */
  image(name: string, disk: string): Promise<string> {
    return this.run('image', name, disk);
  }

  /** Path of the deterministic random data file for a seed and length in bytes. */
  dataFile(seed: number | string, length: number): Promise<string> {
    return this.run('data-file', String(seed), String(length));
  }

  /** Writes into a running guest's disk through qemu-io on the top block node, then flushes. */
  async write(
    name: string,
    disk: string,
    offset: number,
    length: number,
    data: WriteData,
  ): Promise<void> {
    const what =
      'pattern' in data
        ? ['--pattern', `0x${data.pattern.toString(16)}`]
        : ['--random', String(data.randomSeed)];
    await this.run('write', name, disk, String(offset), String(length), ...what);
  }

  /** SIGKILLs the domain's QEMU: the unclean exit that breaks bitmaps. */
  async killQemu(name: string): Promise<void> {
    await this.run('kill-qemu', name);
  }

  /** Re-creates the domain as transient with the same UUID (checkpoint metadata gone). */
  async recreate(name: string): Promise<void> {
    await this.run('recreate', name);
  }

  /** Moves a domain between hosts, live (shared storage) or cold. */
  async migrate(name: string, from: string, to: string, mode: 'live' | 'cold'): Promise<void> {
    await this.run('migrate', name, from, to, `--${mode}`);
  }

  /** Dirty bitmaps of a running domain as QMP reports them (one object per bitmap and node). */
  async bitmaps(name: string): Promise<Record<string, unknown>[]> {
    const out = await this.run('bitmaps', name);
    return out
      .split('\n')
      .filter((l) => l.length > 0)
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  }

  /** A raw QMP command on a running domain; returns the parsed reply. */
  async qmp(name: string, command: object): Promise<unknown> {
    return JSON.parse(await this.run('qmp', name, JSON.stringify(command))) as unknown;
  }
}
