/**
 * The scratch folder is where root (the agent, or the CLI run as root) makes job folders, hands
 * them to QEMU's user and later removes them recursively. The default, /var/tmp/virtvault, lies in
 * a world-writable folder: a local user who made it first (or a link of that name) would own
 * where root writes and deletes, and could redirect both through links. So the folder must be
 * this process's own and writable by nobody else.
 */
import { lstatSync, realpathSync, statSync } from 'node:fs';

import { EngineError } from './errors.js';

/**
 * Throws `SCRATCH_UNSAFE` unless `dir` (and a link at its place) is ours and writable by no one
 * else: not by all, nor by a group other than ours.
 */
export function assertPrivateScratch(dir: string): void {
  const uid = process.getuid?.();
  if (uid === undefined) {
    return; // no owners to compare (not a POSIX system)
  }
  const link = lstatSync(dir);
  const real = link.isSymbolicLink() ? realpathSync(dir) : dir;
  const st = link.isSymbolicLink() ? statSync(real) : link;
  const fix = `make it a folder of uid ${uid} with mode 0711, or choose another scratch folder`;
  if (link.uid !== uid || st.uid !== uid) {
    const owner = link.uid !== uid ? link.uid : st.uid;
    const msg = `scratch folder ${dir} belongs to uid ${owner}, not to this process (uid ${uid}): ${fix}`;
    throw new EngineError('SCRATCH_UNSAFE', msg);
  }
  if (!st.isDirectory()) {
    throw new EngineError('SCRATCH_UNSAFE', `scratch folder ${dir} is not a folder: ${fix}`);
  }
  // group-writable only matters for a group other than ours (a umask of 002 gives our own 0775)
  const others = st.gid === process.getgid?.() ? 0o002 : 0o022;
  if ((st.mode & others) !== 0) {
    const mode = (st.mode & 0o7777).toString(8);
    const msg = `scratch folder ${real} is writable by others (mode ${mode}): ${fix}`;
    throw new EngineError('SCRATCH_UNSAFE', msg);
  }
}
