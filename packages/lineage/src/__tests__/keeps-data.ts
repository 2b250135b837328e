import assert from 'node:assert/strict';

import { EmbeddedLineage } from '../embedded.js';

import { manifest } from './lineage-contract.js';

/** Writes a snapshot, closes, reopens and reads it back: opened, migrated, durable across reopen. */
export async function assertKeepsData(dataDir: string): Promise<void> {
  const uuid = '0b7e0d4e-0000-4000-8000-0000000000bb';
  const m = manifest(uuid, 1, null);
  const first = await EmbeddedLineage.open({ dataDir });
  try {
    await first.store.reconcile('r', uuid, [m], 0);
  } finally {
    await first.close();
  }
  const second = await EmbeddedLineage.open({ dataDir });
  try {
    const l = await second.store.loadLineage('r', { uuid, name: m.domain.name });
    assert.deepEqual(
      l.snapshots.map((s) => s.id),
      [m.id],
    );
  } finally {
    await second.close();
  }
}
