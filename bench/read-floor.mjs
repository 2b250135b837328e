// The floor under any incremental that reads through QEMU's pull-backup export: how long libvirt
// takes to start the job, and how long QEMU takes to serve the changed extents to a bare reader
// (our NBD client on one connection, reads only, nothing hashed or stored). A tool's incremental
// costs at least the two; the bench prints them beside the ratios.
// The job exports the changes since `checkpoint` and creates none, so no tool's chain moves.
import { execFileSync } from 'node:child_process';

import { NbdClient, walkExtents } from '@virtvault/nbd';

import { OUT } from './bench-lab.mjs';

const MAX_READ = 4 * 1024 * 1024;
/**
 * Requests in flight: 16 read the bench's 200 MiB change set in 0.95-0.99 s, 4 in 1.04-1.20 s, 64
 * in 1.03-1.25 s (two runs each on the bench VM).
 */
const IN_FLIGHT = 16;

const seconds = (t0) => Number(process.hrtime.bigint() - t0) / 1e9;

/** Reads the dirty, allocated extents of `socket`'s export `name`; returns the bytes read. */
async function readChanged(socket, name, bitmap) {
  const contexts = ['base:allocation', `qemu:dirty-bitmap:${bitmap}`];
  const nbd = await NbdClient.connect({
    socket,
    exportName: name,
    metaContexts: contexts,
    maxInFlight: IN_FLIGHT,
  });
  let bytes = 0;
  const pending = new Set();
  try {
    for await (const e of walkExtents(nbd, { contexts })) {
      if (!e.dirty || !e.allocated || e.zero) {
        continue;
      }
      for (let at = e.offset; at < e.offset + e.length; at += MAX_READ) {
        const len = Math.min(MAX_READ, e.offset + e.length - at);
        const p = nbd.read(at, len).then(() => pending.delete(p));
        pending.add(p);
        bytes += len;
        if (pending.size >= IN_FLIGHT) {
          await Promise.race(pending);
        }
      }
    }
    await Promise.all(pending);
  } finally {
    await nbd.close();
  }
  return bytes;
}

/**
 * Starts a pull backup of `domain`'s vda with the changes since `checkpoint` (virsh, timed), reads
 * them bare (timed), and aborts the job. Returns `{ start, read, mib }` (seconds, seconds, MiB).
 */
export async function readFloor(uri, domain, checkpoint) {
  const socket = `${OUT}/floor.sock`;
  const xml = `${OUT}/floor.xml`;
  execFileSync('bash', ['-c', `cat > ${xml}`], {
    input:
      `<domainbackup mode='pull'><incremental>${checkpoint}</incremental>` +
      `<server transport='unix' socket='${socket}'/><disks>` +
      `<disk name='vda' backup='yes' type='file'><scratch file='${OUT}/floor-scratch.qcow2'/>` +
      '</disk></disks></domainbackup>',
  });
  const virsh = (...args) =>
    execFileSync('virsh', ['-q', '-c', uri, ...args], { encoding: 'utf8' });
  const t0 = process.hrtime.bigint();
  virsh('backup-begin', domain, xml);
  const start = seconds(t0);
  try {
    const t1 = process.hrtime.bigint();
    const bytes = await readChanged(socket, 'vda', 'backup-vda');
    return { start, read: seconds(t1), mib: bytes / 1024 / 1024 };
  } finally {
    virsh('domjobabort', domain);
  }
}

/** The parent of `domain`'s newest checkpoint (the one its last incremental started from). */
export function parentCheckpoint(uri, domain) {
  const virsh = (...args) =>
    execFileSync('virsh', ['-q', '-c', uri, ...args], { encoding: 'utf8' }).trim();
  const leaf = virsh('checkpoint-list', domain, '--name', '--leaves');
  return virsh('checkpoint-parent', domain, leaf);
}
