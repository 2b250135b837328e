/**
 * Lineage records from snapshot manifests: the repository's manifests are the truth about which
 * snapshots exist, so commits, crash repair and a lost database are all rebuilt from them.
 */
import type { LineageCheckpoint, LineageSnapshot } from './lineage.js';
import type { SnapshotManifest } from './manifest.js';

/** The lineage snapshot a manifest describes (committed, not yet verified). */
export function snapshotFromManifest(m: SnapshotManifest): LineageSnapshot {
  return {
    id: m.id,
    level: m.level,
    host: m.host,
    checkpoint: m.checkpoint?.name ?? null,
    parent: m.parent,
    status: 'committed',
    verify: 'unverified',
    disks: m.disks.map((d) => ({
      target: d.target,
      source: d.source,
      format: d.format,
      virtualSize: d.virtualSize,
    })),
    startedAt: Date.parse(m.startedAt),
    endedAt: Date.parse(m.endedAt),
  };
}

/**
 * The checkpoint a manifest's snapshot created, live, or null when it created none. libvirt names
 * each disk's bitmap after the checkpoint.
 */
export function checkpointFromManifest(
  m: SnapshotManifest,
  repository: string,
): LineageCheckpoint | null {
  if (!m.checkpoint) {
    return null;
  }
  const name = m.checkpoint.name;
  return {
    name,
    repository,
    host: m.host,
    createdAt: Date.parse(m.startedAt),
    xml: m.checkpoint.xml,
    disks: m.disks.map((d) => ({ target: d.target, bitmap: name })),
    state: 'live',
    stateReason: null,
  };
}

/** Total bytes read and new of a manifest's disks. */
export function manifestBytes(m: SnapshotManifest): { read: number; new: number } {
  return m.disks.reduce((acc, d) => ({ read: acc.read + d.bytesRead, new: acc.new + d.bytesNew }), {
    read: 0,
    new: 0,
  });
}
