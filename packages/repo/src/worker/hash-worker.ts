/**
 * Worker-thread entry: hashes, compresses and writes chunks off the main thread.
 * `workerData`: `{ root: string, level: number, shape: ArenaShape }`. Messages: `ChunkJob`,
 * `PatchJob` or `RenameJob` in; `ChunkJobResult`, `PatchJobResult`, `RenameJobResult` or
 * `{ id, error }` out.
 */
import { parentPort, workerData } from 'node:worker_threads';

import { ChunkEncoder } from '../format/chunk-codec.js';
import type { ArenaShape } from './arena.js';
import type { ChunkJob, PatchJob, RenameJob } from './chunk-job.js';
import { ChunkStore, runRenames } from './chunk-job.js';

const data = workerData as { root: string; level: number; shape: ArenaShape };
const store = new ChunkStore(data.root, new ChunkEncoder(data.level), data.shape);

function run(job: ChunkJob | PatchJob | RenameJob): unknown {
  if (!('type' in job)) {
    return store.run(job);
  }
  return job.type === 'patch' ? store.runPatch(job) : runRenames(job);
}

parentPort?.on('message', (job: ChunkJob | PatchJob | RenameJob) => {
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
