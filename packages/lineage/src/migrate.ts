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

/** SQLSTATE of a missing table. */
const UNDEFINED_TABLE = '42P01';

/**
 * True when every migration is recorded with its checksum: one query instead of the locked
 * transaction's five round trips, which every command paid at start (~15 ms against the embedded
 * store). Anything else (no table yet, a migration missing or changed) takes the locked path,
 * which applies or reports it.
 */
async function upToDate(
  sql: Sql,
  q: Queries,
  migrations: readonly { id: string; text: string }[],
): Promise<boolean> {
  let rows: { id: string; checksum: string }[];
  try {
    rows = await sql.unsafe<{ id: string; checksum: string }[]>(q['select-migrations']);
  } catch (e) {
    // a new database has no table yet; any other failure (unreachable, refused) is the caller's
    if ((e as { code?: unknown }).code === UNDEFINED_TABLE) {
      return false;
    }
    throw e;
  }
  const applied = new Map(rows.map((r) => [r.id, r.checksum]));
  refuseNewer(applied, migrations);
  return migrations.every((m) => applied.get(m.id) === checksum(m.text));
}

/**
 * `LINEAGE_TOO_NEW` when the database has a migration this build does not ship: a newer virtvault
 * wrote it (the user went back a version). An older build would misread it, or quietly undo what
 * the newer one fixed (one without migration 0006 stops recording a run's checkpoint, and other
 * repositories' runs remove it again), so it is refused until virtvault is upgraded.
 */
function refuseNewer(
  applied: ReadonlyMap<string, string>,
  migrations: readonly { id: string }[],
): void {
  const known = new Set(migrations.map((m) => m.id));
  const newer = [...applied.keys()].filter((id) => !known.has(id)).sort();
  if (newer.length > 0) {
    throw new LineageError(
      'LINEAGE_TOO_NEW',
      `the lineage database was written by a newer virtvault (migration ${newer.join(', ')}, ` +
        'unknown to this one): upgrade virtvault to use it',
    );
  }
}

/**
 * Brings the schema up to date.
 * @returns ids of the migrations applied now
 */
export async function migrate(sql: Sql, q: Queries): Promise<string[]> {
  const migrations = await loadMigrations();
  if (await upToDate(sql, q, migrations)) {
    return [];
  }
  try {
    return await sql.begin(async (tx) => {
      await tx.unsafe(q['lock-migrations']);
      await tx.unsafe(q['create-schema-migrations']);
      const rows = await tx.unsafe<{ id: string; checksum: string }[]>(q['select-migrations']);
      const applied = new Map(rows.map((r) => [r.id, r.checksum]));
      refuseNewer(applied, migrations);
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
