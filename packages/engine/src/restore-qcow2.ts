/**
 * A restored disk written as qcow2: `qemu-img create`, then qemu-nbd serving the new image and our
 * NBD client writing each slot's data runs into it.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { NbdClient } from '@virtvault/nbd';
import type { DiskSlot } from '@virtvault/repo';

import { qemuImg } from './qemu-img.js';
import { QemuNbd } from './qemu-nbd.js';

/** Slots being written at once in a qcow2 restore (each holds a shared region until written). */
const SLOTS_IN_FLIGHT = 4;
/** NBD write request size of a qcow2 restore. */
const WRITE_REQUEST = 4 * 1024 * 1024;

/** Bytes of data in a slot's runs. */
export function runBytes(s: DiskSlot): number {
  return s.runs.reduce((n, r) => n + r.length, 0);
}

/**
 * Writes each slot's data runs through `write`, up to {@link SLOTS_IN_FLIGHT} slots at once; a
 * slot's region is given back once all its writes are answered (the bytes have left by then). A
 * slot whose writes failed is put in `held` instead: its connection may still hold its bytes, so
 * the caller gives it back once the connection is closed. Returns only when no write is in
 * flight, also when `slots` throws.
 */
export async function writeSlots(
  slots: AsyncIterable<DiskSlot>,
  write: (offset: number, data: Buffer) => Promise<void>,
  written: (n: number) => void,
  held: DiskSlot[],
): Promise<void> {
  const inFlight = new Set<Promise<void>>();
  let failure: { error: unknown } | null = null;
  try {
    for await (const s of slots) {
      const parts = s.runs.map((r) =>
        write(s.offset + r.at, s.data.subarray(r.at, r.at + r.length)),
      );
      const w: Promise<void> = Promise.all(parts).then(
        () => {
          inFlight.delete(w);
          s.release();
          written(runBytes(s));
        },
        (err: unknown) => {
          inFlight.delete(w);
          held.push(s);
          failure ??= { error: err };
        },
      );
      inFlight.add(w);
      while (inFlight.size >= SLOTS_IN_FLIGHT && failure === null) {
        await Promise.race(inFlight);
      }
      if (failure !== null) {
        break;
      }
    }
  } finally {
    // a slot iterator that threw (a corrupt chunk, an interrupt) leaves writes in flight: their
    // regions must be given back or kept as above, never forgotten
    await Promise.all(inFlight);
  }
  if (failure !== null) {
    throw (failure as { error: unknown }).error;
  }
}

/** Writes `slots` into a new qcow2 image `file` of `size` bytes. */
export async function restoreQcow2(
  file: string,
  size: number,
  slots: AsyncIterable<DiskSlot>,
  written: (n: number) => void,
): Promise<void> {
  await qemuImg(['create', '-q', '-f', 'qcow2', '--', file, String(size)]);
  // a folder of its own under the system's temp folder, not next to the output: a unix socket's
  // path is limited to 107 bytes, which an output folder may well pass
  const sockDir = await mkdtemp(path.join(tmpdir(), 'vv-restore-'));
  try {
    await writeThroughQemuNbd(file, path.join(sockDir, 'nbd.sock'), slots, written);
  } finally {
    // also removes a socket left by a qemu-nbd that failed to start
    await rm(sockDir, { recursive: true, force: true });
  }
}

async function writeThroughQemuNbd(
  file: string,
  socket: string,
  slots: AsyncIterable<DiskSlot>,
  written: (n: number) => void,
): Promise<void> {
  const server = await QemuNbd.start({
    image: file,
    format: 'qcow2',
    socket,
    exportName: 'restore',
    readOnly: false,
  });
  try {
    // Whole-slot writes: with qemu's 256 KiB default a fresh qcow2 took twice as long (22 -> 11 s
    // for 2.3 GiB of data); the client caps this at the server's maximum block size.
    const nbd = await NbdClient.connect({
      socket,
      exportName: 'restore',
      requestSize: WRITE_REQUEST,
    });
    const held: DiskSlot[] = [];
    try {
      await writeSlots(slots, (offset, data) => nbd.write(offset, data), written, held);
      await nbd.flush();
    } finally {
      await nbd.close();
      // the connection is gone: the regions of failed writes are free again (a long-lived agent
      // that kept them would run out of regions after a few failed restores and hang)
      for (const s of held) {
        s.release();
      }
    }
  } finally {
    await server.close();
  }
}
