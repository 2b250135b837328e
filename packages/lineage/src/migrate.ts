/**
 * The migration runner: applies `migrations/NNNN_*.sql` in order, each once, in one transaction
 * under `pg_advisory_xact_lock` (several controllers may start at once), recording
 * `schema_migrations(id, checksum)`. Forward-only: a changed applied file is an error.
 * On pglite-socket the advisory lock is not real, but there is a single session anyway.
 */
import { createHash } from 'node:crypto';

import type { Sql } from 'postgres';

import { LineageError } from './errors.js';
import { type Queries, loadMigrations } from './sql-files.js';

/** SHA-256 hex of a migration's text. */
function checksum(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/**
 * Brings the schema up to date.
 * @returns ids of the migrations applied now
 */
export async function migrate(sql: Sql, q: Queries): Promise<string[]> {
  const migrations = await loadMigrations();
  try {
    return await sql.begin(async (tx) => {
      await tx.unsafe(q['lock-migrations']);
      await tx.unsafe(q['create-schema-migrations']);
      const rows = await tx.unsafe<{ id: string; checksum: string }[]>(q['select-migrations']);
      const applied = new Map(rows.map((r) => [r.id, r.checksum]));
      const now: string[] = [];
      for (const m of migrations) {
        const sum = checksum(m.text);
        const known = applied.get(m.id);
        if (known !== undefined && known !== sum) {
          throw new LineageError(
            'MIGRATION_CHECKSUM_MISMATCH',
            `migration ${m.id} changed after it was applied`,
          );
        }
        if (known === undefined) {
          // Multi-statement files need the simple query protocol.
          await tx.unsafe(m.text).simple();
          await tx.unsafe(q['insert-migration'], [m.id, sum]);
          now.push(m.id);
        }
      }
      return now;
    });
  } catch (e) {
    if (e instanceof LineageError) {
      throw e;
    }
    throw new LineageError('MIGRATION_FAILED', `migration failed: ${String(e)}`, { cause: e });
  }
}
