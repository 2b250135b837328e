/** What the engine's tests commit their hand-written snapshots with. */
import type { CommitInfo } from '@virtvault/repo';

/** A fixed domain for hand-written snapshots. */
export const DOMAIN = { uuid: '11111111-2222-3333-4444-555555555555', name: 'vm1' };

/** Commit fields of a hand-written full snapshot. */
export const COMMIT: CommitInfo = {
  host: 'h',
  level: 'full',
  reasons: [],
  checkpoint: null,
  domainXml: '<domain/>',
  startedAt: '2026-01-01T00:00:00.000Z',
  endedAt: '2026-01-01T00:00:01.000Z',
  toolVersion: 'test',
};
