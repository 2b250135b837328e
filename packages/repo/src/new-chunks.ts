/**
 * A writer's new chunks: temps written by the workers, not durable nor named yet, published
 * together before the commit (see `publish.ts`) or removed by an abort.
 */
import { rmSync } from 'node:fs';

import { discardTemps, publishChunks, type RenameAll, type TempChunk } from './publish.js';
import type { StoredChunk } from './worker/chunk-job.js';

/** The temps of one snapshot writer, one per new content. */
export class NewChunks {
  readonly #temps: TempChunk[] = [];
  /** Digests of `#temps`: two workers may store the same new content at once. */
  readonly #digests = new Set<string>();
  /** Set by `discard`: a chunk stored after it (a job already running) is removed at once. */
  #discarded = false;

  /** @param chunkPath the final path of a chunk */
  constructor(private readonly chunkPath: (digest: string) => string) {}

  /**
   * Takes a stored chunk's temp (or removes it: this writer has that content already); returns
   * the bytes it adds to the snapshot.
   */
  async take(c: StoredChunk): Promise<number> {
    if (c.temp === null) {
      return 0;
    }
    if (this.#discarded) {
      // removed before anything else runs: the aborted backup's process may be about to exit
      rmSync(c.temp, { force: true });
      return 0;
    }
    if (this.#digests.has(c.digest)) {
      await discardTemps([c.temp]);
      return 0;
    }
    this.#digests.add(c.digest);
    this.#temps.push({ temp: c.temp, target: this.chunkPath(c.digest) });
    return c.rawLength;
  }

  /**
   * Makes every temp durable and renames it into place (see `publishChunks`). The temps are
   * forgotten only once all are published: after a failure partway, `discard` still removes the
   * ones not renamed yet (a renamed one is a chunk no index names, which GC frees).
   */
  async publish(root: string, renameAll: RenameAll): Promise<void> {
    await publishChunks(root, [...this.#temps], renameAll);
    this.#temps.length = 0;
  }

  /** Removes every temp (best effort). */
  discard(): Promise<void> {
    this.#discarded = true;
    return discardTemps(this.#temps.splice(0).map((t) => t.temp));
  }
}
