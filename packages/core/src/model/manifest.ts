/**
 * The snapshot manifest: the commit record of one snapshot in a repository
 * (`snapshots/<domain-uuid>/<snapshot-id>/manifest.json`, DESIGN.md section 3).
 *
 * It holds enough to rebuild the lineage if the database is lost. Owned by `core` so that
 * `repo` (which writes it) and `lineage` (which rebuilds from it) share one definition.
 */

/** Backup levels. A differential is taken against the last full, an incremental against the last snapshot. */
export type BackupLevel = 'full' | 'incremental' | 'differential';

/**
 * How consistent a snapshot's disks are: `filesystem` when the guest agent froze the guest's
 * filesystems for the moment the backup job started, `crash` when the disks are as a power cut
 * would leave them (no freeze, or a stopped domain).
 */
export type Consistency = 'filesystem' | 'crash';

/** One disk of a snapshot. Sizes are bytes. */
export interface ManifestDisk {
  /** libvirt target name, e.g. `vda`. */
  target: string;
  /** The disk's source path (or network name) at backup time. */
  source: string;
  /** Image format at backup time, e.g. `qcow2` or `raw`. */
  format: string;
  /** Virtual size in bytes. */
  virtualSize: number;
  /** File name of the disk's index inside the snapshot folder, e.g. `vda.index`. */
  index: string;
  /** SHA-256 (hex) of the index file. */
  indexSha256: string;
  /** Bytes read from the source disk for this snapshot. */
  bytesRead: number;
  /** Bytes of chunk payload that were new to the repository (before compression). */
  bytesNew: number;
}

/** The libvirt checkpoint a snapshot created, with the XML needed to redefine it elsewhere. */
export interface ManifestCheckpoint {
  /** Our checkpoint name, `vv-<ulid>`. */
  name: string;
  /** Checkpoint XML as `virDomainCheckpointGetXMLDesc` returned it (for REDEFINE). */
  xml: string;
}

/** A snapshot manifest, format version 1. */
export interface SnapshotManifest {
  /** Fixed marker so a stray JSON file is never taken for a manifest. */
  format: 'virtvault-snapshot';
  /** Manifest format version. */
  version: 1;
  /** Snapshot id (validated; safe as a path component). */
  id: string;
  /** The backed-up domain. */
  domain: { uuid: string; name: string };
  /** Host the backup ran on. */
  host: string;
  /** Level actually taken. */
  level: BackupLevel;
  /** Reason codes of the planner (e.g. `NO_PARENT`, `BITMAP_INCONSISTENT`). */
  reasons: string[];
  /** The checkpoint created with this snapshot, or null when none was (e.g. raw-only domains). */
  checkpoint: ManifestCheckpoint | null;
  /** Parent snapshot id for incrementals and differentials; null for a full. */
  parent: string | null;
  /** The domain XML at backup time. */
  domainXml: string;
  /** The disks backed up. */
  disks: ManifestDisk[];
  /** ISO 8601 start time. */
  startedAt: string;
  /** ISO 8601 end time. */
  endedAt: string;
  /** virtvault version that wrote it. */
  toolVersion: string;
  /** Consistency of the disks; absent in manifests written before it existed, which means `crash`. */
  consistency?: Consistency;
}

/** A manifest's consistency; a missing field (older manifests) is `crash`. */
export function consistencyOf(m: Pick<SnapshotManifest, 'consistency'>): Consistency {
  return m.consistency ?? 'crash';
}
