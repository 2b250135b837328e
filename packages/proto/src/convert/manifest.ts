/**
 * `SnapshotManifest` (core) ⇄ `Manifest` (wire). The manifest's fixed `format` and `version`
 * markers are not on the wire: the message is format version 1 by definition.
 */
import type { Consistency, SnapshotManifest } from '@virtvault/core';

import type {
  Manifest as ManifestMsg,
  Manifest__Output as ManifestOut,
} from '../generated/virtvault/agent/v1/Manifest.js';

import { level, orNull } from './enums.js';

/** Core manifest → wire. */
export function manifestToMsg(m: SnapshotManifest): ManifestMsg {
  return {
    id: m.id,
    domainUuid: m.domain.uuid,
    domainName: m.domain.name,
    host: m.host,
    level: m.level,
    reasons: [...m.reasons],
    checkpoint: m.checkpoint === null ? null : { name: m.checkpoint.name, xml: m.checkpoint.xml },
    parent: m.parent ?? '',
    domainXml: m.domainXml,
    disks: m.disks.map((d) => ({ ...d })),
    startedAt: m.startedAt,
    endedAt: m.endedAt,
    toolVersion: m.toolVersion,
    consistency: m.consistency ?? '',
  };
}

/** Wire manifest → core; `BAD_MESSAGE` for an unknown level. */
export function manifestFromMsg(m: ManifestOut, field = 'Manifest'): SnapshotManifest {
  return {
    format: 'virtvault-snapshot',
    version: 1,
    id: m.id,
    domain: { uuid: m.domainUuid, name: m.domainName },
    host: m.host,
    level: level(`${field}.level`, m.level),
    reasons: [...m.reasons],
    checkpoint: m.checkpoint === null ? null : { name: m.checkpoint.name, xml: m.checkpoint.xml },
    parent: orNull(m.parent),
    domainXml: m.domainXml,
    disks: m.disks.map((d) => ({
      target: d.target,
      source: d.source,
      format: d.format,
      virtualSize: d.virtualSize,
      index: d.index,
      indexSha256: d.indexSha256,
      bytesRead: d.bytesRead,
      bytesNew: d.bytesNew,
    })),
    startedAt: m.startedAt,
    endedAt: m.endedAt,
    toolVersion: m.toolVersion,
    ...(m.consistency !== '' ? { consistency: consistency(m.consistency) } : {}),
  };
}

/** `filesystem` as is; anything else (an empty string from older agents) is `crash`. */
function consistency(wire: string): Consistency {
  return wire === 'filesystem' ? 'filesystem' : 'crash';
}
