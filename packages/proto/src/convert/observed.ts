/**
 * `ObservedDomain` (core) ⇄ `ObservedDomain` (wire), and the disks and checkpoints inside it, which
 * the inventory's `DomainSummary` shares. Empty strings on the wire are nulls in core.
 */
import type { ObservedCheckpoint, ObservedDisk, ObservedDomain } from '@virtvault/core';

import type {
  ObservedCheckpoint as CheckpointMsg,
  ObservedCheckpoint__Output as CheckpointOut,
} from '../generated/virtvault/agent/v1/ObservedCheckpoint.js';
import type {
  ObservedDisk as DiskMsg,
  ObservedDisk__Output as DiskOut,
} from '../generated/virtvault/agent/v1/ObservedDisk.js';
import type {
  ObservedDomain as DomainMsg,
  ObservedDomain__Output as DomainOut,
} from '../generated/virtvault/agent/v1/ObservedDomain.js';

import { orNull, runState } from './enums.js';

/** Core disk → wire. */
export function diskToMsg(d: ObservedDisk): DiskMsg {
  return {
    target: d.target,
    source: d.source,
    format: d.format,
    virtualSize: d.virtualSize,
    nodeName: d.nodeName ?? '',
    bitmapsSupported: d.bitmapsSupported,
    bitmaps: d.bitmaps.map((b) => ({ ...b })),
  };
}

/** Wire disk → core. */
export function diskFromMsg(m: DiskOut): ObservedDisk {
  return {
    target: m.target,
    source: m.source,
    format: m.format,
    virtualSize: m.virtualSize,
    nodeName: orNull(m.nodeName),
    bitmapsSupported: m.bitmapsSupported,
    bitmaps: m.bitmaps.map((b) => ({
      name: b.name,
      recording: b.recording,
      persistent: b.persistent,
      inconsistent: b.inconsistent,
      busy: b.busy,
    })),
  };
}

/** Core checkpoint → wire. */
export function checkpointToMsg(c: ObservedCheckpoint): CheckpointMsg {
  return { name: c.name, parent: c.parent ?? '' };
}

/** Wire checkpoint → core. */
export function checkpointFromMsg(m: CheckpointOut): ObservedCheckpoint {
  return { name: m.name, parent: orNull(m.parent) };
}

/** Core observation → wire. */
export function observedToMsg(o: ObservedDomain): DomainMsg {
  return {
    host: o.host,
    uuid: o.domain.uuid,
    name: o.domain.name,
    state: o.domain.state,
    transient: o.domain.transient,
    disks: o.disks.map(diskToMsg),
    checkpoints: o.checkpoints.map(checkpointToMsg),
  };
}

/** Wire observation → core; `BAD_MESSAGE` for an unknown state. */
export function observedFromMsg(m: DomainOut, field = 'ObservedDomain'): ObservedDomain {
  return {
    host: m.host,
    domain: {
      uuid: m.uuid,
      name: m.name,
      state: runState(`${field}.state`, m.state),
      transient: m.transient,
    },
    disks: m.disks.map(diskFromMsg),
    checkpoints: m.checkpoints.map(checkpointFromMsg),
  };
}
