import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

// The runBackup scenario suite lives with core's tests (compiled next to them).
import { makeWorld, runBackupSuite } from '../../../core/dist/__tests__/run-backup-suite.js';
import { hasErrorCode } from '@virtvault/core';
import type postgres from 'postgres';

import { EmbeddedLineage } from '../embedded.js';
import type { PgLineageStore } from '../pg-lineage-store.js';

import { assertKeepsData } from './keeps-data.js';
import { lineageStoreContract } from './lineage-contract.js';
import { sharedView } from './test-db.js';

// One PGlite per file: its start-up (initdb in WASM) takes seconds.
let embedded: EmbeddedLineage | undefined;
const store = (): Promise<PgLineageStore> => {
  assert.ok(embedded, 'PGlite did not open');
  return Promise.resolve(sharedView(embedded.store));
};

before(async () => {
  embedded = await EmbeddedLineage.open();
});
after(async () => {
  await embedded?.close();
});

lineageStoreContract('PGlite over pglite-socket', store);
// One store shared by both concurrent runs: standalone mode has one process per state directory.
runBackupSuite('PGlite over pglite-socket', store);
runBackupSuite('PGlite over pglite-socket, with plan hints', store, { hints: true });

describe('plan hints from the store', () => {
  it('the lineage a run leaves plans the next run as the store does: it starts early', async () => {
    const w = makeWorld(await store(), '01H', { hints: true });
    await w.run();
    for (let i = 0; i < 3; i++) {
      const r = await w.run();
      assert.equal(r.manifest.level, 'incremental');
      assert.equal(r.earlyStart, 'kept');
    }
    assert.deepEqual(w.executor.cancelled, []);
  });
});

describe('embedded lineage', () => {
  it('keeps the lineage in its data directory across reopen; close is idempotent', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vv-pglite-'));
    try {
      await assertKeepsData(dir);
      const again = await EmbeddedLineage.open({ dataDir: dir });
      await again.close();
      await again.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses a lineage a newer virtvault migrated, as such and not as damage', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vv-pglite-new-'));
    try {
      const first = await EmbeddedLineage.open({ dataDir: dir });
      try {
        // through the store's own connection: the embedded server serves one client at a time
        const { sql } = first.store as unknown as { sql: postgres.Sql };
        await sql`insert into schema_migrations (id, checksum) values ('9999_future', 'x')`;
      } finally {
        await first.close();
      }
      await assert.rejects(EmbeddedLineage.open({ dataDir: dir }), (e) =>
        hasErrorCode(e, 'LINEAGE_TOO_NEW'),
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
