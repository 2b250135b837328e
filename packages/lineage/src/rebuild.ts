/**
 * Rebuilding the lineage from a repository's manifests when the database is lost (DESIGN.md
 * section 3: the manifest is enough). Idempotent; safe on a database that still has rows.
 */
import type { LineageStore, SnapshotManifest } from '@virtvault/core';

/** What a rebuild imported, per domain UUID. */
export type RebuildResult = Map<string, { imported: string[]; missing: string[]; found: string[] }>;

/**
 * Imports every manifest of `repository` (any domain) into the store.
 * @param manifests as read by the repository package
 * @param at epoch ms recorded as the import time
 */
export async function rebuildFromManifests(
  store: LineageStore,
  repository: string,
  manifests: readonly SnapshotManifest[],
  at: number,
): Promise<RebuildResult> {
  const byDomain = new Map<string, SnapshotManifest[]>();
  for (const m of manifests) {
    byDomain.set(m.domain.uuid, [...(byDomain.get(m.domain.uuid) ?? []), m]);
  }
  const result: RebuildResult = new Map();
  for (const [uuid, list] of byDomain) {
    // Parents before children, so the rows read back in chain order.
    const sorted = [...list].sort((a, b) => a.startedAt.localeCompare(b.startedAt));
    result.set(uuid, await store.reconcile(repository, uuid, sorted, at));
  }
  return result;
}
