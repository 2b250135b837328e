import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { hasErrorCode } from '@virtvault/core';
import postgres from 'postgres';

// The runBackup scenario suite lives with core's tests (compiled next to them).
import { runBackupSuite } from '../../../core/dist/__tests__/run-backup-suite.js';
import { PgLineageStore } from '../pg-lineage-store.js';
import { loadMigrations } from '../sql-files.js';

import { lineageStoreContract } from './lineage-contract.js';
import { TEST_SERVER_URL, createTestDatabase } from './test-db.js';

let db: { url: string; drop: () => Promise<void> } | undefined;
const url = (): string => {
  assert.ok(db, `no test database on ${TEST_SERVER_URL}`);
  return db.url;
};

before(async () => {
  db = await createTestDatabase();
});
after(async () => {
  await db?.drop();
});

describe('migrations on Postgres', () => {
  it('apply once under the advisory lock, concurrently, and record checksums', async () => {
    const stores = await Promise.all([1, 2, 3].map(() => PgLineageStore.connect({ url: url() })));
    await Promise.all(stores.map((s) => s.close()));
    const sql = postgres(url(), { max: 1, onnotice: () => undefined });
    try {
      const rows = await sql<
        { id: string; checksum: string }[]
      >`select id, checksum from schema_migrations order by id`;
      assert.deepEqual(
        rows.map((r) => r.id),
        (await loadMigrations()).map((m) => m.id),
      );
      assert.equal(rows[0]?.id, '0001_lineage');
      assert.match(rows[0]?.checksum ?? '', /^[0-9a-f]{64}$/);
      await sql`update schema_migrations set checksum = 'x' where id = '0001_lineage'`;
      await assert.rejects(PgLineageStore.connect({ url: url() }), (e) =>
        hasErrorCode(e, 'MIGRATION_CHECKSUM_MISMATCH'),
      );
      await sql`update schema_migrations set checksum = ${rows[0]?.checksum ?? ''} where id = '0001_lineage'`;
    } finally {
      await sql.end();
    }
  });

  it('refuses a database a newer virtvault migrated, and names the migration', async () => {
    const sql = postgres(url(), { max: 1, onnotice: () => undefined });
    try {
      await sql`insert into schema_migrations (id, checksum) values ('9999_future', 'x')`;
      await assert.rejects(
        PgLineageStore.connect({ url: url() }),
        (e) => hasErrorCode(e, 'LINEAGE_TOO_NEW') && /9999_future/.test(String(e)),
      );
    } finally {
      await sql`delete from schema_migrations where id = '9999_future'`;
      await sql.end();
    }
  });

  it('fails clearly when the server is unreachable', async () => {
    await assert.rejects(
      PgLineageStore.connect({ url: 'postgres://postgres@127.0.0.1:1/none', connectTimeoutSec: 2 }),
      (e) => hasErrorCode(e, 'CONNECT_FAILED'),
    );
  });

  it('closes idempotently and refuses use after close', async () => {
    const s = await PgLineageStore.connect({ url: url() });
    await s.close();
    await s.close();
    await assert.rejects(s.heartbeat('x', 0), (e) => hasErrorCode(e, 'CLOSED'));
  });
});

lineageStoreContract('Postgres', () => PgLineageStore.connect({ url: url() }));
// Every makeStore call is its own pool: concurrent runs race on the server for real.
runBackupSuite('Postgres', () => PgLineageStore.connect({ url: url() }));
