/**
 * What the agent's integration tests share: certificates made by `deploy/make-certs.sh`, agent
 * configurations, clients with any mix of credentials, and checks of a domain's leftovers.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { AgentClient } from '@virtvault/proto';

const run = promisify(execFile);

/** The repository root (from `packages/agent/dist/__tests__`). */
export const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
/** The compiled agent binary. */
export const AGENT_MAIN = `${ROOT}packages/agent/dist/main.js`;

/** Host name the agent runs as; its certificate names it. */
export const HOST = 'lab-a';
/** The controller's certificate name. */
export const CONTROLLER = 'controller';

/** Makes the fleet PKI (and a second, foreign CA) with deploy/make-certs.sh. */
export async function makeCerts(dir: string): Promise<void> {
  const script = `${ROOT}deploy/make-certs.sh`;
  await run('bash', [script, `${dir}/pki`, '--controller', CONTROLLER, '--controller', 'intruder']);
  await run('bash', [script, `${dir}/pki`, '--agent', HOST, '--ip', '127.0.0.1']);
  await run('bash', [script, `${dir}/foreign`, '--controller', CONTROLLER]);
}

/** The agent configuration YAML for the lab. */
export function agentYaml(o: { dir: string; port: number; uri: string; max: number }): string {
  return [
    `listen: 127.0.0.1:${o.port}`,
    `hostName: ${HOST}`,
    `tls: { ca: pki/ca.crt, cert: pki/${HOST}.crt, key: pki/${HOST}.key }`,
    `controllerName: ${CONTROLLER}`,
    `libvirtUri: "${o.uri}"`,
    'repositories:',
    `  - { name: main, path: ${o.dir}/repo, create: true }`,
    `scratchDir: ${o.dir}/s`,
    `restoreRoots: [${o.dir}]`,
    `maxConcurrentBackups: ${o.max}`,
    '',
  ].join('\n');
}

/** A client of the agent at `port` with the given credentials. */
export async function client(
  dir: string,
  port: number,
  o: { ca?: string; cert?: string; expect?: string } = {},
): Promise<AgentClient> {
  const certName = o.cert ?? `pki/${CONTROLLER}`;
  return new AgentClient({
    address: `127.0.0.1:${port}`,
    expectedHostName: o.expect ?? HOST,
    ca: await readFile(`${dir}/${o.ca ?? 'pki'}/ca.crt`),
    cert: await readFile(`${dir}/${certName}.crt`),
    key: await readFile(`${dir}/${certName}.key`),
  });
}

/** A free TCP port on the loopback. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (typeof a === 'object' && a !== null ? resolve(a.port) : reject(new Error())));
    });
  });
}

/** A spawned `node packages/agent/dist/main.js`, resolved once it listens. */
export async function spawnAgent(
  configFile: string,
): Promise<{ child: ChildProcess; exited: Promise<number | null>; log: () => string }> {
  const child = spawn(process.execPath, [AGENT_MAIN, '--config', configFile], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    child.stderr?.on('data', (d: Buffer) => {
      log += d.toString();
      if (log.includes(' listening ')) {
        resolve();
      }
    });
    void exited.then(() => reject(new Error(`agent exited before listening: ${log}`)));
  });
  return { child, exited, log: () => log };
}

/** virsh against the lab host. */
export async function virsh(uri: string, ...args: string[]): Promise<string> {
  return (await run('virsh', ['-q', '-c', uri, ...args])).stdout.trim();
}

/** The domain's checkpoint names. */
export async function checkpointNames(uri: string, vm: string): Promise<string[]> {
  const out = await virsh(uri, 'checkpoint-list', vm, '--name');
  return out
    .split('\n')
    .filter((l) => l.trim() !== '')
    .sort();
}

/** True when the domain has no job (a backup job shows as "Unbounded"). */
export async function hasNoJob(uri: string, vm: string): Promise<boolean> {
  return /Job type:\s+None/.test(await virsh(uri, 'domjobinfo', vm));
}

/** Polls `f` until it is true or `ms` passed; returns its last answer. */
export async function eventually(f: () => Promise<boolean>, ms = 20_000): Promise<boolean> {
  const end = Date.now() + ms;
  for (;;) {
    if (await f()) {
      return true;
    }
    if (Date.now() > end) {
      return false;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Saves the agent configuration file. */
export async function writeConfig(file: string, yaml: string): Promise<void> {
  await writeFile(file, yaml);
}

/** `qemu-img compare` of a restored disk against a raw copy of the source. */
export async function compareImages(restored: string, sourceRaw: string): Promise<string> {
  const r = await run('qemu-img', [
    'compare',
    '-U',
    '-f',
    'qcow2',
    '-F',
    'raw',
    restored,
    sourceRaw,
  ]);
  return r.stdout;
}

/** A raw copy of an image as it is now (read while the guest runs). */
export async function copyRaw(image: string, out: string): Promise<void> {
  await run('qemu-img', ['convert', '-U', '-O', 'raw', image, out]);
}
