/**
 * Worker-thread entry: hashes, compresses and stores chunks off the main thread.
 * `workerData`: `{ root: string, level: number }`. Messages: `ChunkJob` in, `ChunkJobResult` or
 * `{ id, error }` out.
 */
import { parentPort, workerData } from 'node:worker_threads';

import { ChunkEncoder } from '../format/chunk-codec.js';
import type { ChunkJob } from './chunk-job.js';
import { runChunkJob } from './chunk-job.js';

const data = workerData as { root: string; level: number };
const encoder = new ChunkEncoder(data.level);

parentPort?.on('message', (job: ChunkJob) => {
  try {
    const result = runChunkJob(data.root, encoder, job);
    // Hand the payload buffer back for reuse instead of leaving it to this isolate's GC.
    parentPort?.postMessage({ ...result, payload: job.payload }, [
      job.payload.buffer as ArrayBuffer,
    ]);
  } catch (e) {
    const err = e instanceof Error ? e : new Error(String(e));
    parentPort?.postMessage({
      id: job.id,
      error: { message: err.message, code: (err as { code?: unknown }).code },
    });
  }
});
