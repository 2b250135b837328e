/**
 * The SQL shipped with the package: `sql/<operation>.sql` (one operation per file) and
 * `migrations/NNNN_<name>.sql`. Both folders sit next to `dist/`, so they are resolved relative to
 * this compiled file and found from `dist/` and from an installed package alike.
 */
import { readFile, readdir } from 'node:fs/promises';

import { LineageError } from './errors.js';

/** Every query file under `sql/`. */
export const QUERY_NAMES = [
  'lock-migrations',
  'create-schema-migrations',
  'select-migrations',
  'insert-migration',
  'upsert-host',
  'upsert-domain',
  'ensure-domain',
  'upsert-disk',
  'abandon-stale-runs',
  'insert-run',
  'heartbeat-run',
  'set-run-checkpoint',
  'succeed-run',
  'fail-run',
  'insert-snapshot',
  'insert-checkpoint',
  'update-checkpoint-state',
  'mark-snapshots-missing',
  'mark-snapshots-found',
  'set-verify-state',
  'set-snapshot-status',
  'select-domain',
  'select-snapshots',
  'select-snapshot-ids',
  'select-checkpoints',
  'select-runs',
  'insert-event',
  'select-events',
] as const;

/** A query name. */
export type QueryName = (typeof QUERY_NAMES)[number];

/** The text of every query, by name. */
export type Queries = Readonly<Record<QueryName, string>>;

/** One migration file. */
export interface Migration {
  /** File name without `.sql`, e.g. `0001_lineage`; applied in this order. */
  id: string;
  /** SQL text. */
  text: string;
}

const SQL_DIR = new URL('../sql/', import.meta.url);
const MIGRATIONS_DIR = new URL('../migrations/', import.meta.url);

async function read(url: URL): Promise<string> {
  try {
    return await readFile(url, 'utf8');
  } catch (e) {
    throw new LineageError('SQL_FILE_MISSING', `cannot read ${url.pathname}`, { cause: e });
  }
}

/** Loads every query file; fails when one is missing. */
export async function loadQueries(): Promise<Queries> {
  const entries = await Promise.all(
    QUERY_NAMES.map(async (n) => [n, await read(new URL(`${n}.sql`, SQL_DIR))] as const),
  );
  return Object.fromEntries(entries) as Record<QueryName, string>;
}

/** Loads the migrations, ordered by file name. */
export async function loadMigrations(): Promise<Migration[]> {
  let names: string[];
  try {
    names = (await readdir(MIGRATIONS_DIR))
      .filter((f) => /^\d{4}_[a-z0-9_-]+\.sql$/.test(f))
      .sort();
  } catch (e) {
    throw new LineageError('SQL_FILE_MISSING', `cannot list ${MIGRATIONS_DIR.pathname}`, {
      cause: e,
    });
  }
  return Promise.all(
    names.map(async (f) => ({ id: f.slice(0, -4), text: await read(new URL(f, MIGRATIONS_DIR)) })),
  );
}
