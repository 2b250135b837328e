/**
 * Opening a postgres.js pool for one of the lineage's stores: connect, apply pending migrations,
 * and on failure end the pool and say which store could not use the database.
 */
import postgres, { type Sql } from 'postgres';

import { LineageError } from './errors.js';
import { migrate } from './migrate.js';
import { loadQueries } from './sql-files.js';

/** A migrated pool; `what` names the store in errors (`fleet`, `token`, `report`). */
export async function openMigrated(url: string, max: number, what: string): Promise<Sql> {
  // no SQL of ours sends or returns arrays (see pg-lineage-store.ts)
  const sql = postgres(url, { max, fetch_types: false, onnotice: () => undefined });
  try {
    await migrate(sql, await loadQueries());
  } catch (e) {
    await sql.end({ timeout: 1 });
    throw e instanceof LineageError
      ? e
      : new LineageError('CONNECT_FAILED', `cannot use ${what} database: ${String(e)}`, {
          cause: e,
        });
  }
  return sql;
}
