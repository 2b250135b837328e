/**
 * Generates the data-directory template of the installed PGlite version: PGlite's own initdb into
 * a scratch directory, a clean shutdown, then the tree as a gzipped ustar under `template/`. Run it
 * after changing the PGlite version (`npm run make-template -w @virtvault/lineage`) and commit the
 * result; the unit tests fail until the template matches the installed version.
 */
import { mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { installedPgliteVersion, templateFile } from './data-dir.js';
import { initdbInProcess } from './pglite-start.js';
import { writeTarGz } from './ustar.js';

const out = fileURLToPath(templateFile(await installedPgliteVersion()));
const partial = `${out}.partial`;
const work = await mkdtemp(join(tmpdir(), 'vv-lineage-template-'));
try {
  await initdbInProcess(work);
  await mkdir(dirname(out), { recursive: true });
  await rm(partial, { force: true });
  // an interrupted run must not leave a truncated template under the name the opener looks for
  await writeTarGz(work, partial);
  await rename(partial, out);
  process.stdout.write(`wrote ${out}\n`);
} finally {
  await rm(work, { recursive: true, force: true });
}
