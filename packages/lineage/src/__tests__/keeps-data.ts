import assert from 'node:assert/strict';

import { EmbeddedLineage } from '../embedded.js';

import { manifest } from './lineage-contract.js';

/**
 * Writes a snapshot, closes, reopens and reads it back: opened, migrated, durable across reopen,
 * with the same owner tag.
 */
export async function assertKeepsData(dataDir: string): Promise<void> {
  const uuid = '0b7e0d4e-0000-4000-8000-0000000000bb';
  const m = manifest(uuid, 1, null);
  const first = await EmbeddedLineage.open({ dataDir });
  let owner: string | undefined;
  try {
    await first.store.reconcile('r', uuid, [m], 0);
    owner = (await first.store.loadLineage('r', { uuid, name: m.domain.name })).owner;
    assert.match(owner ?? '', /^[0-9a-f]{8}$/);
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
    assert.equal(l.owner, owner, 'the owner tag is made once and kept');
  } finally {
    await second.close();
  }
}
