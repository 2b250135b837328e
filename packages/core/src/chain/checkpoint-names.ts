/**
 * Our checkpoint namespace. Checkpoints and bitmaps whose names do not start with `vv-` belong to
 * other tools (OpenNebula `one-…`, virtnbdbackup `virtnbdbackup.N`, …): never touched, never
 * blocking (peers.md B8).
 */

/** Prefix of every checkpoint and bitmap name we create. */
export const CHECKPOINT_PREFIX = 'vv-';

/** True when the checkpoint or bitmap name is ours. */
export function isOwnCheckpoint(name: string): boolean {
  return name.startsWith(CHECKPOINT_PREFIX) && name.length > CHECKPOINT_PREFIX.length;
}

/** Our checkpoint name for a ULID (sortable by creation time). */
export function toCheckpointName(ulid: string): string {
  return `${CHECKPOINT_PREFIX}${ulid}`;
}
