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

/** One statement: a query file and its parameters. */
export type Statement = [QueryName, unknown[]];

/**
 * The statements that insert the snapshot of `m` (and its checkpoint, host and domain rows)
 * unless present, in the order they must run; the third (`insert-snapshot`) returns a row only
 * when the snapshot was new. None needs an earlier one's result, so a caller may send them at once.
 */
export function manifestStatements(
  repository: string,
  m: SnapshotManifest,
  runId: string | null,
  at: number,
): Statement[] {
  const s = snapshotFromManifest(m);
  const bytes = manifestBytes(m);
  const out: Statement[] = [
    ['upsert-host', [m.host, new Date(s.startedAt)]],
    ['ensure-domain', [m.domain.uuid, m.domain.name, new Date(s.startedAt)]],
    [
      'insert-snapshot',
      [
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
      ],
    ],
  ];
  const c = checkpointFromManifest(m, repository);
  if (c) {
    const disks = JSON.stringify(c.disks);
    const created = new Date(c.createdAt);
    out.push([
      'insert-checkpoint',
      [m.domain.uuid, c.name, repository, c.host, created, c.xml, disks],
    ]);
  }
  return out;
}

/** Index of `insert-snapshot` in {@link manifestStatements}. */
export const INSERT_SNAPSHOT_AT = 2;
