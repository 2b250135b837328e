import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

// The runBackup scenario suite lives with core's tests (compiled next to them).
import { runBackupSuite } from '../../../core/dist/__tests__/run-backup-suite.js';
import { EmbeddedLineage } from '../embedded.js';
import type { PgLineageStore } from '../pg-lineage-store.js';

import { lineageStoreContract, manifest } from './lineage-contract.js';
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

describe('embedded lineage', () => {
  it('keeps the lineage in its data directory across reopen', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vv-pglite-'));
    try {
      const uuid = '0b7e0d4e-0000-4000-8000-0000000000aa';
      const m = manifest(uuid, 1, null);
      const first = await EmbeddedLineage.open({ dataDir: dir });
      await first.store.reconcile('r', uuid, [m], 0);
      await first.close();
      await first.close();
      const second = await EmbeddedLineage.open({ dataDir: dir });
      try {
        const l = await second.store.loadLineage('r', { uuid, name: m.domain.name });
        assert.deepEqual(
          l.snapshots.map((s) => s.id),
          [m.id],
        );
      } finally {
        await second.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
