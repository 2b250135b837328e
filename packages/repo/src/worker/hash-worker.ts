/**
 * Worker-thread entry: hashes, compresses and writes chunks off the main thread.
 * `workerData`: `{ root: string, level: number, shape: ArenaShape }`. Messages: `ChunkJob` or
 * `PatchJob` in, `ChunkJobResult`, `PatchJobResult` or `{ id, error }` out.
 */
import { parentPort, workerData } from 'node:worker_threads';

import { ChunkEncoder } from '../format/chunk-codec.js';
import type { ArenaShape } from './arena.js';
import type { ChunkJob, PatchJob } from './chunk-job.js';
import { ChunkStore } from './chunk-job.js';

const data = workerData as { root: string; level: number; shape: ArenaShape };
const store = new ChunkStore(data.root, new ChunkEncoder(data.level), data.shape);

parentPort?.on('message', (job: ChunkJob | PatchJob) => {
  try {
    parentPort?.postMessage('type' in job ? store.runPatch(job) : store.run(job));
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    parentPort?.postMessage({
      id: job.id,
      error: { message: err.message, code: (err as { code?: unknown }).code },
    });
  }
});
