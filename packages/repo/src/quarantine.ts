/**
 * Chunks verify set aside, as a backup must know them. Verify renames a corrupt chunk `<digest>.bad`
 * and marks it in the snapshots it checked; a snapshot it did not check (a later incremental of
 * the same chain, another domain deduplicated against it) still names the digest. A writer building
 * on such a parent would carry the missing chunk into every new snapshot, which would all report
 * success and none restore. So verify also leaves a marker, `quarantine/<digest>`, and a writer
 * refuses a parent that reaches a marked chunk not stored whole since (`REPO_CHUNK_QUARANTINED`):
 * the run takes a full instead, which stores those bytes afresh when the disk still holds them.
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';

import { RepoError, isErrno } from './errors.js';
import { ZERO_DIGEST_HEX } from './format/constants.js';
import type { DiskIndex } from './format/index-file.js';
import type { Repository } from './repository.js';
import { chunkFile } from './validate.js';
import { patchStart } from './worker/slot-entry.js';

/** The folder of the markers, under the repository's root. */
const QUARANTINE_DIR = 'quarantine';
/** A marker's name: a chunk digest (anything else in the folder is ignored). */
const DIGEST_NAME = /^[0-9a-f]{64}$/;

/** Records that verify set chunk `digest` aside (an empty marker file; idempotent). */
export async function markQuarantined(root: string, digest: string): Promise<void> {
  const dir = path.join(root, QUARANTINE_DIR);
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, digest), '');
}

/**
 * Removes the markers of digests no snapshot reaches any more (`reached`: a complete GC mark,
 * through patches), so that a marker does not outlive every snapshot that named its chunk and
 * make each later backup read its parent's patches for nothing. Only markers older than `cutoff`
 * (GC's): a verify running beside the GC may have marked a chunk of a snapshot committed after
 * the mark.
 */
export async function dropUnreachedMarkers(
  root: string,
  reached: ReadonlySet<string>,
  cutoff: number,
): Promise<void> {
  const dir = path.join(root, QUARANTINE_DIR);
  const names = await readdir(dir).catch((e: unknown) => {
    if (isErrno(e, 'ENOENT')) {
      return [];
    }
    throw e;
  });
  for (const d of names.filter((n) => DIGEST_NAME.test(n) && !reached.has(n))) {
    const st = await stat(path.join(dir, d)).catch(() => null);
    if (st !== null && st.mtimeMs < cutoff) {
      await rm(path.join(dir, d), { force: true });
    }
  }
}

/**
 * The digests verify set aside that no backup has stored whole since. A marker whose chunk is
 * back (a later backup held the same bytes) is removed: every snapshot naming it reads again.
 */
export async function unresolvedQuarantine(root: string): Promise<Set<string>> {
  const dir = path.join(root, QUARANTINE_DIR);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (e) {
    if (isErrno(e, 'ENOENT')) {
      return new Set();
    }
    throw e;
  }
  const out = new Set<string>();
  for (const d of names.filter((n) => DIGEST_NAME.test(n))) {
    if (existsSync(chunkFile(root, d))) {
      await rm(path.join(dir, d), { force: true });
    } else {
      out.add(d);
    }
  }
  return out;
}

/**
 * Throws `REPO_CHUNK_QUARANTINED` when `index` (disk `target` of snapshot `snapshot`) reaches a
 * digest of `bad`: names it, or names a patch whose base or ranges do. Reads the index's small
 * chunks (patches) only when `bad` is not empty, which is rare.
 */
export function refuseQuarantined(
  repo: Repository,
  index: DiskIndex,
  bad: ReadonlySet<string>,
  where: { snapshot: string; target: string },
): void {
  if (bad.size === 0) {
    return;
  }
  const refuse = (digest: string, via: string): never => {
    throw new RepoError(
      'REPO_CHUNK_QUARANTINED',
      `snapshot ${where.snapshot} disk ${where.target} reaches chunk ${digest}${via}, which ` +
        'verify found corrupt and set aside: a new backup must not build on it',
    );
  };
  for (const d of index.digests()) {
    if (bad.has(d)) {
      refuse(d, '');
    }
    if (d === ZERO_DIGEST_HEX) {
      continue;
    }
    const start = patchStart(repo.root, d, repo.config.hash);
    for (const c of [start.base, ...start.old.map((r) => r.digest)]) {
      if (bad.has(c)) {
        refuse(c, ` through patch ${d}`);
      }
    }
  }
}
