/**
 * Where a restore may write: under one of the agent's `restoreRoots`. The agent runs as root and
 * a restore creates files, so a request must not name any folder of the host (`/etc/cron.d`).
 */
import { realpath } from 'node:fs/promises';
import path from 'node:path';

import { AgentError } from './errors.js';

/** Whether `child` is `root` or lies under it (both absolute and normalised). */
function isUnder(root: string, child: string): boolean {
  const rel = path.relative(root, child);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel));
}

/**
 * The real path of `p`, which may not exist yet: its deepest existing ancestor with symbolic links
 * resolved, the rest appended (a link inside a root must not lead out of it).
 */
async function realPathOfNew(p: string): Promise<string> {
  const rest: string[] = [];
  let cur = path.resolve(p);
  for (;;) {
    try {
      return path.join(await realpath(cur), ...rest.reverse());
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw e;
      }
      const parent = path.dirname(cur);
      if (parent === cur) {
        return path.resolve(p);
      }
      rest.push(path.basename(cur));
      cur = parent;
    }
  }
}

/** Throws `OUTPUT_DIR_REFUSED` unless `dir` (absolute) lies under one of `roots`. */
export async function assertUnderRestoreRoots(
  dir: string,
  roots: readonly string[],
): Promise<void> {
  const real = await realPathOfNew(dir);
  for (const r of roots) {
    const root = await realpath(r).catch(() => path.resolve(r));
    if (isUnder(root, real)) {
      return;
    }
  }
  throw new AgentError(
    'OUTPUT_DIR_REFUSED',
    `${dir} is outside this agent's restore roots (${roots.join(', ')}); ` +
      'add a folder to restoreRoots in its configuration to restore there',
  );
}
