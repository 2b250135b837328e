/**
 * Entry of the short-lived child that initialises a data directory when no template matches the
 * installed PGlite: the child pays initdb's memory, the backup process never does.
 * Usage: node --liftoff-only initdb-child.js <dir>
 */
import { initdbInProcess } from './pglite-start.js';

const dir = process.argv[2];
if (!dir) {
  process.stderr.write('usage: initdb-child.js <dir>\n');
  process.exit(2);
}
await initdbInProcess(dir);
