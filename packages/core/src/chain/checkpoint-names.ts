/**
 * Our checkpoint namespace. Checkpoints and bitmaps whose names do not start with `vv-` belong to
 * other tools (OpenNebula `one-…`, virtnbdbackup `virtnbdbackup.N`, …): never touched, never
 * blocking (peers.md B8).
 *
 * A lineage with an owner tag names its checkpoints `vv-<tag>-<ulid>`, so that two lineages backing
 * up one domain (two standalone state folders, or a standalone run beside a fleet) tell theirs
 * apart: another lineage's checkpoints are left alone like another tool's. `vv-<ulid>` names,
 * from lineages without a tag (and from before tags), count as every lineage's.
 */
import type { DomainLineage } from '../model/lineage.js';

/** Prefix of every checkpoint and bitmap name we create. */
export const CHECKPOINT_PREFIX = 'vv-';

/** `vv-<tag>-<rest>`. */
const TAGGED = /^vv-([0-9a-f]{8})-(.+)$/;

/** True when the checkpoint or bitmap name is virtvault's (of any lineage). */
export function isOwnCheckpoint(name: string): boolean {
  return name.startsWith(CHECKPOINT_PREFIX) && name.length > CHECKPOINT_PREFIX.length;
}

/** The owner tag in a checkpoint name, or null for an untagged (or foreign) name. */
export function checkpointOwner(name: string): string | null {
  return TAGGED.exec(name)?.[1] ?? null;
}

/**
 * True when the virtvault checkpoint `name` is the concern of the lineage tagged `owner`: it is
 * untagged, or tagged `owner`, or the lineage has no tag. A checkpoint the lineage records is its
 * own whatever its name (a lineage rebuilt from manifests records the names the old one made).
 */
export function isLineageCheckpoint(name: string, owner: string | undefined): boolean {
  if (!isOwnCheckpoint(name)) {
    return false;
  }
  const tag = checkpointOwner(name);
  return owner === undefined || tag === null || tag === owner;
}

/**
 * True when the checkpoint or bitmap `name` found on a host is `lineage`'s concern: one it
 * records, or one of its own by name ({@link isLineageCheckpoint}).
 */
export function isLineageConcern(
  name: string,
  lineage: Pick<DomainLineage, 'checkpoints' | 'owner'>,
): boolean {
  return (
    lineage.checkpoints.some((c) => c.name === name) || isLineageCheckpoint(name, lineage.owner)
  );
}

/** Our checkpoint name for a ULID (sortable by creation time), tagged with the lineage's owner. */
export function toCheckpointName(ulid: string, owner?: string): string {
  return owner === undefined
    ? `${CHECKPOINT_PREFIX}${ulid}`
    : `${CHECKPOINT_PREFIX}${owner}-${ulid}`;
}

/** The time-sortable part of one of our names (its ULID), whether tagged or not. */
export function checkpointSortKey(name: string): string {
  return TAGGED.exec(name)?.[2] ?? name.slice(CHECKPOINT_PREFIX.length);
}
