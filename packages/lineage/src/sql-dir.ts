/**
 * Query files of one feature folder under `sql/` (e.g. `sql/report/`), loaded by name. Kept apart
 * from the lineage's own list so features add queries without touching it.
 */
import { readFile } from 'node:fs/promises';

import { LineageError } from './errors.js';

/** Reads `sql/<dir>/<name>.sql` for every name; fails with `SQL_FILE_MISSING` on the first gap. */
export async function loadSqlDir<N extends string>(
  dir: string,
  names: readonly N[],
): Promise<Readonly<Record<N, string>>> {
  const base = new URL(`../sql/${dir}/`, import.meta.url);
  const entries = await Promise.all(
    names.map(async (n) => {
      try {
        return [n, await readFile(new URL(`${n}.sql`, base), 'utf8')] as const;
      } catch (e) {
        throw new LineageError('SQL_FILE_MISSING', `cannot read sql/${dir}/${n}.sql`, { cause: e });
      }
    }),
  );
  return Object.fromEntries(entries) as Record<N, string>;
}
