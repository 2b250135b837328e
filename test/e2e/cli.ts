/**
 * Drives the `virtvault` binary as a user does, in standalone mode against the lab, with its own
 * state directory, scratch directory and repository.
 */
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import type { Lab } from '../lab/index.js';

const run = promisify(execFile);

/** The compiled `virtvault` binary. */
export const CLI = fileURLToPath(
  new URL('../../../packages/cli/dist/bundle/virtvault.js', import.meta.url),
);

/** What `virtvault backup --json` prints. */
export interface BackupJson {
  snapshot: string;
  domain: { uuid: string; name: string };
  host: string;
  level: 'full' | 'incremental' | 'differential';
  reasons: string[];
  checkpoint: string | null;
  parent: string | null;
  disks: { target: string; bytesRead: number; bytesNew: number }[];
  /** Whether the backup started from the last run's lineage before the store opened. */
  earlyStart: 'none' | 'kept' | 'cancelled';
  durationMs: number;
  /** Where the time went; the durations add up to `durationMs`. */
  phases: Record<'prepareMs' | 'beginMs' | 'copyMs' | 'commitMs' | 'finishMs', number>;
}

/** Result of one CLI run. */
export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** A standalone virtvault installation for one test file. */
export class Standalone {
  /** Working directory (state, scratch, repository, restores). */
  dir = '';

  /** @param lab the lab the domains live in */
  constructor(readonly lab: Lab) {}

  /** Creates the working directory. */
  async setUp(): Promise<void> {
    this.dir = await mkdtemp('/var/tmp/vv-e2e-');
    await mkdir(`${this.dir}/scratch`);
  }

  /** Removes the working directory. */
  async tearDown(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }

  /** Repository path. */
  get repo(): string {
    return `${this.dir}/repo`;
  }

  /** Runs the binary (in folder `cwd` when given); never throws on a non-zero exit. */
  async cli(args: string[], cwd?: string): Promise<CliRun> {
    try {
      const r = await run(process.execPath, [CLI, ...args], {
        maxBuffer: 64 * 1024 * 1024,
        ...(cwd !== undefined ? { cwd } : {}),
      });
      return { code: 0, stdout: r.stdout, stderr: r.stderr };
    } catch (e) {
      const x = e as { code?: number; stdout?: string; stderr?: string };
      return { code: x.code ?? -1, stdout: x.stdout ?? '', stderr: x.stderr ?? '' };
    }
  }

  /** The options that point a command at a lab host. */
  async hostArgs(host: string): Promise<string[]> {
    const uri = await this.lab.uri(host);
    return [
      '--connect',
      uri,
      '--host',
      host,
      '--state',
      `${this.dir}/state`,
      '--scratch',
      `${this.dir}/scratch`,
    ];
  }

  /** Arguments of a backup of `domain` on `host`. */
  async backupArgs(domain: string, host: string, level = 'auto'): Promise<string[]> {
    const h = await this.hostArgs(host);
    return ['backup', '--domain', domain, '--repo', this.repo, '--level', level, '--json', ...h];
  }

  /** `virtvault backup --json`; asserts success. */
  async backup(domain: string, host: string, level = 'auto'): Promise<BackupJson> {
    const r = await this.cli(await this.backupArgs(domain, host, level));
    assert.equal(r.code, 0, `backup failed: ${r.stdout} ${r.stderr}`);
    const json = JSON.parse(r.stdout) as BackupJson;
    const spent = Object.values(json.phases ?? {});
    assert.equal(spent.length, 5, `every phase timed: ${JSON.stringify(json.phases)}`);
    assert.ok(spent.every((ms) => Number.isInteger(ms) && ms >= 0));
    assert.equal(
      spent.reduce((a, b) => a + b, 0),
      json.durationMs,
      'the phases add up to the run',
    );
    return json;
  }

  /** Starts a backup in the background (to kill it). */
  async spawnBackup(domain: string, host: string): Promise<ChildProcess> {
    return spawn(process.execPath, [CLI, ...(await this.backupArgs(domain, host))], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  }

  /** `virtvault doctor --json`: the reasons the next run would record. */
  async doctorReasons(domain: string, host: string): Promise<string[]> {
    const args = ['doctor', '--domain', domain, '--repo', this.repo, '--json'];
    const r = await this.cli([...args, ...(await this.hostArgs(host))]);
    assert.equal(r.code, 0, `doctor failed: ${r.stdout} ${r.stderr}`);
    return (JSON.parse(r.stdout) as { plan: { reasons: string[] } }).plan.reasons;
  }

  /** Restores a snapshot; returns the restored files by disk target. */
  async restore(domain: string, snapshot: string, format = 'qcow2'): Promise<Map<string, string>> {
    const out = `${this.dir}/restore-${snapshot}-${format}`;
    const args = ['restore', '--repo', this.repo, '--domain', domain, '--snapshot', snapshot];
    const r = await this.cli([...args, '--output', out, '--format', format, '--json']);
    assert.equal(r.code, 0, `restore failed: ${r.stdout} ${r.stderr}`);
    const doc = JSON.parse(r.stdout) as { disks: { target: string; path: string }[] };
    return new Map(doc.disks.map((d) => [d.target, d.path]));
  }
}

/** Saves a raw copy of a lab domain's disk images as they are now (the snapshot's moment). */
export async function copyDisks(
  lab: Lab,
  domain: string,
  disks: string[],
  dir: string,
  tag: string,
): Promise<Map<string, string>> {
  const copies = new Map<string, string>();
  for (const d of disks) {
    const copy = `${dir}/src-${domain}-${tag}-${d}.raw`;
    await run('qemu-img', ['convert', '-U', '-O', 'raw', await lab.image(domain, d), copy]);
    copies.set(d, copy);
  }
  return copies;
}

/** Asserts `qemu-img compare` finds a restored image identical to a raw copy. */
export async function assertIdentical(
  restored: string,
  copy: string,
  format = 'qcow2',
): Promise<void> {
  const r = await run('qemu-img', ['compare', '-U', '-f', format, '-F', 'raw', restored, copy]);
  assert.match(r.stdout, /Images are identical/, `${restored} vs ${copy}`);
}

/** A fresh lab domain (old images removed). */
export async function freshVm(
  lab: Lab,
  name: string,
  options: { disks?: number; host?: string; transient?: boolean; size?: string } = {},
): Promise<void> {
  await lab.rmvm(name);
  for (let i = 0; i < (options.disks ?? 1) + 1; i++) {
    await rm(await lab.image(name, `vd${String.fromCharCode(97 + i)}`), { force: true });
  }
  await lab.vm(name, options.size ?? '64M', {
    disks: options.disks ?? 1,
    host: options.host ?? 'a',
    transient: options.transient ?? false,
  });
}

/** virsh against a lab host. */
export async function virsh(lab: Lab, host: string, ...args: string[]): Promise<string> {
  return (await run('virsh', ['-q', '-c', await lab.uri(host), ...args])).stdout;
}

/**
 * Whether a job socket exists: `vv-job-<tag>/nbd.sock` (pull mode) or `vv-job-<tag>-<disk>.sock`
 * with its pid file (offline: qemu-nbd makes the socket before it opens and locks the image, the
 * pid file after).
 */
async function hasJobSocket(scratch: string): Promise<boolean> {
  const names = await readdir(scratch);
  for (const n of names) {
    if (n.startsWith('vv-job-') && n.endsWith('.sock') && names.includes(`${n}.pid`)) {
      return true;
    }
    const inner = await readdir(`${scratch}/${n}`).catch((): string[] => []);
    if (n.startsWith('vv-job-') && inner.includes('nbd.sock')) {
      return true;
    }
  }
  return false;
}

/**
 * Waits until a backup job's NBD socket exists in `scratch`: the job has then begun (pull mode),
 * or the image is locked by qemu-nbd (offline). Polled closely: a small backup is over in
 * a fraction of a second.
 */
export async function waitForJobSocket(scratch: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await hasJobSocket(scratch)) {
      return;
    }
    await sleep(5);
  }
  assert.fail(`no backup job socket appeared in ${scratch}`);
}
