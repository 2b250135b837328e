/**
 * Writing a committed manifest into the lineage: snapshot row, checkpoint row, host and domain
 * rows it needs. Idempotent, so a commit, a crash repair and a rebuild never duplicate a snapshot.
 */
import {
  checkpointFromManifest,
  manifestBytes,
  snapshotFromManifest,
  type SnapshotManifest,
} from '@virtvault/core';

import type { QueryName } from './sql-files.js';

/** Runs one query file inside the caller's transaction. */
export type Exec = (name: QueryName, params: unknown[]) => Promise<object[]>;

/**
 * Inserts the snapshot of `m` (and its checkpoint) unless present.
 * @returns true when the snapshot was new
 */
export async function insertManifest(
  exec: Exec,
  repository: string,
  m: SnapshotManifest,
  runId: string | null,
  at: number,
): Promise<boolean> {
  const s = snapshotFromManifest(m);
  await exec('upsert-host', [m.host, new Date(s.startedAt)]);
  await exec('ensure-domain', [m.domain.uuid, m.domain.name, new Date(s.startedAt)]);
  const bytes = manifestBytes(m);
  const inserted = await exec('insert-snapshot', [
    repository,
    m.id,
    m.domain.uuid,
    m.host,
    m.level,
    s.checkpoint,
    m.parent,
    bytes.read,
    bytes.new,
    JSON.stringify(m.disks),
    JSON.stringify(m.reasons),
    new Date(s.startedAt),
    new Date(s.endedAt),
    runId,
    new Date(at),
  ]);
  const c = checkpointFromManifest(m, repository);
  if (c) {
    await exec('insert-checkpoint', [
      m.domain.uuid,
      c.name,
      repository,
      c.host,
      new Date(c.createdAt),
      c.xml,
      JSON.stringify(c.disks),
    ]);
  }
  return inserted.length > 0;
}
