// Runs many libvirt calls and reports RSS, to show that handles, strings and errors are freed.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

import { isNoCheckpoint, type Connection } from '../index.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** RSS in MiB after a full GC (finalizers then free the native handles on the pool). */
async function settledRssMiB(): Promise<number> {
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 50));
  }
  return process.memoryUsage().rss / 2 ** 20;
}

/** One call of a rotating mix: lookups (new handles), XML, state, listing and an error path. */
async function oneCall(conn: Connection, name: string, i: number): Promise<void> {
  switch (i % 5) {
    case 0:
      await conn.lookupByName(name);
      return;
    case 1:
      await (await conn.lookupByName(name)).xml();
      return;
    case 2:
      await conn.listDomains();
      return;
    case 3:
      await (await conn.lookupByName(name)).status();
      return;
    default:
      await (
        await conn.lookupByName(name)
      ).checkpoints
        .lookup('no-such-checkpoint')
        .catch((e: unknown) => {
          if (!isNoCheckpoint(e)) {
            throw e;
          }
        });
  }
}

/** Result of {@link measureCalls}. */
export interface LeakResult {
  calls: number;
  ms: number;
  rssBeforeMiB: number;
  rssAfterMiB: number;
}

/** Warms up, then runs `calls` calls 50 at a time and returns RSS before and after. */
export async function measureCalls(
  conn: Connection,
  name: string,
  calls: number,
): Promise<LeakResult> {
  const batch = 50;
  const run = async (n: number): Promise<void> => {
    for (let i = 0; i < n; i += batch) {
      await Promise.all(
        Array.from({ length: Math.min(batch, n - i) }, (_, k) => oneCall(conn, name, i + k)),
      );
    }
  };
  await run(2000);
  const rssBeforeMiB = await settledRssMiB();
  const t0 = Date.now();
  await run(calls);
  const ms = Date.now() - t0;
  const rssAfterMiB = await settledRssMiB();
  return { calls, ms, rssBeforeMiB, rssAfterMiB };
}
