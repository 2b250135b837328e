/**
 * The data runs of a resolved slot: what a restore must write into a fresh output, which already
 * reads as zeros. Writing zeros into it cost a sparse slot's restore as much as its data.
 */

/** A run of non-zero bytes, relative to the start of the buffer it was found in. */
export interface DataRun {
  /** Offset in the buffer. */
  at: number;
  /** Length in bytes. */
  length: number;
}

/** Granule of the zero scan: zeros inside a slot are skipped in runs of at least this. */
export const ZERO_GRANULE = 64 * 1024;
const ZEROS = Buffer.alloc(ZERO_GRANULE);

/** The non-zero runs of `data`, found at {@link ZERO_GRANULE} granularity. */
export function dataRuns(data: Buffer): DataRun[] {
  const runs: DataRun[] = [];
  let start = -1;
  for (let at = 0; at < data.length; at += ZERO_GRANULE) {
    const n = Math.min(ZERO_GRANULE, data.length - at);
    const zero = data.compare(ZEROS, 0, n, at, at + n) === 0;
    if (!zero && start < 0) {
      start = at;
    } else if (zero && start >= 0) {
      runs.push({ at: start, length: at - start });
      start = -1;
    }
  }
  if (start >= 0) {
    runs.push({ at: start, length: data.length - start });
  }
  return runs;
}
