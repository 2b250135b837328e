/**
 * Checkpoint and bitmap names from the wire, checked before anything acts on them. The agent runs
 * as root and hands these names to libvirt and to `qemu-img bitmap … <image> <name>`, where a name
 * such as `--help` was once parsed as an option. Only the core planner kept to the `vv-` namespace
 * (names of other tools are never touched): a caller that does not, or a forged request, must not
 * reach another tool's checkpoints either.
 */
import { isOwnCheckpoint, type RedefineAction } from '@virtvault/core';
import { parseCheckpointXml } from '@virtvault/libvirt';
import type { AgentBackupRequest } from '@virtvault/proto';

import { AgentError } from './errors.js';

/** Every name virtvault makes (`vv-<tag>-<ulid>`) fits; shell, XML and option syntax does not. */
const SAFE_NAME = /^[A-Za-z0-9._-]+$/;

/** The name as a message shows it: quoted, control characters escaped, cut when long. */
function shown(name: string): string {
  return JSON.stringify(name.length > 80 ? `${name.slice(0, 80)}…` : name);
}

/**
 * Throws `BAD_REQUEST` unless `name` (the request's `field`) is one of virtvault's checkpoint or
 * bitmap names made only of letters, digits, `-`, `_` and `.`.
 */
export function assertOwnName(field: string, name: string): void {
  if (!SAFE_NAME.test(name)) {
    throw new AgentError(
      'BAD_REQUEST',
      `${field} ${shown(name)} is refused: a name may hold only letters, digits, "-", "_" and "."`,
    );
  }
  if (!isOwnCheckpoint(name)) {
    throw new AgentError(
      'BAD_REQUEST',
      `${field} ${shown(name)} is refused: names not starting with vv- belong to other tools`,
    );
  }
}

/**
 * Throws `BAD_REQUEST` unless the redefine names one of our checkpoints and its XML is checkpoint
 * XML of that very name: libvirt redefines whatever `<name>` the XML holds, so a mismatch would
 * recreate another checkpoint (another tool's, even) under the request's checks.
 */
export function assertRedefinable(action: RedefineAction): void {
  assertOwnName('checkpoint', action.checkpoint);
  let inXml: string;
  try {
    inXml = parseCheckpointXml(action.xml).name;
  } catch (e) {
    throw new AgentError(
      'BAD_REQUEST',
      `the XML of checkpoint ${action.checkpoint} is unreadable`,
      {
        cause: e,
      },
    );
  }
  if (inXml !== action.checkpoint) {
    throw new AgentError(
      'BAD_REQUEST',
      `the XML to redefine ${action.checkpoint} names checkpoint ${shown(inXml)}`,
    );
  }
}

/** Throws `BAD_REQUEST` unless the backup's parent and new checkpoint are ours and plainly named. */
export function assertBackupNames(
  req: Pick<AgentBackupRequest, 'incrementalFrom' | 'newCheckpoint'>,
): void {
  if (req.incrementalFrom !== null) {
    assertOwnName('incrementalFrom', req.incrementalFrom);
  }
  if (req.newCheckpoint !== null) {
    assertOwnName('newCheckpoint.name', req.newCheckpoint.name);
  }
}
