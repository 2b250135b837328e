/**
 * Worker-thread entry: hashes, compresses and writes chunks off the main thread, resolves a
 * restore's slots and checks chunks for verify.
 * `workerData`: `{ root: string, level: number, shape: ArenaShape, hash: ChunkHash }`. Messages: `ChunkJob`,
 * `PackJob`, `RenameJob`, `ResolveJob` or `CheckJob` in; their results or `{ id, error }` out.
 */
import { parentPort, workerData } from 'node:worker_threads';

import { ChunkEncoder } from '../format/chunk-codec.js';
import type { ChunkHash } from '../format/constants.js';
import type { ArenaShape } from './arena.js';
import type { ChunkJob, RenameJob } from './chunk-job.js';
import { ChunkStore, runRenames } from './chunk-job.js';
import { type CheckJob, ChunkReader, type ResolveJob } from './chunk-reader.js';
import type { PackJob } from './pack-job.js';

type Job = ChunkJob | PackJob | RenameJob | ResolveJob | CheckJob;

const data = workerData as { root: string; level: number; shape: ArenaShape; hash: ChunkHash };
const store = new ChunkStore(data.root, new ChunkEncoder(data.level), data.shape, data.hash);
const reader = new ChunkReader(data.root, data.shape, data.hash);

function run(job: Job): unknown {
  if (!('type' in job)) {
    return store.run(job);
  }
  switch (job.type) {
    case 'pack':
      return store.runPack(job);
    case 'rename':
      return runRenames(job);
    case 'resolve':
      return reader.run(job);
    case 'check':
      return reader.check(job);
  }
}

parentPort?.on('message', (job: Job) => {
  try {
    parentPort?.postMessage(run(job));
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    parentPort?.postMessage({
      id: job.id,
      error: { message: err.message, code: (err as { code?: unknown }).code },
    });
  }
});
