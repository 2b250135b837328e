// Drives the repository's lab script (test/lab/lab) from integration tests. libvirt is a leaf package
// and cannot import @virtvault/testkit, so it runs the same script the testkit wraps.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The lab script, resolved from packages/libvirt/dist/__tests__. */
const LAB = fileURLToPath(new URL('../../../../test/lab/lab', import.meta.url));

/** The lab's state root: this package's own lab unless LAB_ROOT says otherwise. */
export const LAB_ROOT = process.env['LAB_ROOT'] ?? '/var/tmp/vvlv';

/** Runs `lab ARGS…` and returns its trimmed stdout; rejects with its stderr. */
export function lab(...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      'bash',
      [LAB, ...args],
      { env: { ...process.env, LAB_ROOT }, maxBuffer: 16 << 20 },
      (err, stdout, stderr) => {
        if (err) {
          reject(new Error(`lab ${args.join(' ')} failed: ${stderr.trim()}`, { cause: err }));
        } else {
          resolve(stdout.trim());
        }
      },
    );
  });
}

/** Starts host `host` (idempotent) and returns its libvirt URI. */
export async function labHost(host = 'a'): Promise<string> {
  await lab('up', host);
  return lab('uri', host);
}

/** A scratch directory under the lab root for sockets and scratch files. */
export function scratchDir(name: string): string {
  return `${LAB_ROOT}/lv-${name}`;
}
