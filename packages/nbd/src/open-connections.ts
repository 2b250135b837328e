/**
 * Opens an NbdClient's connections: the first, then (only when the server
 * advertises NBD_FLAG_CAN_MULTI_CONN) the others, each of which must have
 * negotiated the same export as the first.
 */
import { Connection } from './connection.js';
import type { ConnectionOptions } from './connection-types.js';
import { NbdError } from './errors.js';
import type { ExportInfo } from './handshake.js';
import { NBD_FLAG_CAN_MULTI_CONN } from './protocol.js';

/** Negotiated connections to one export. */
export interface OpenConnections {
  /** The connections, the first one first. */
  readonly conns: Connection[];
  /** The first connection's export facts (the others agree, but for context ids). */
  readonly info: ExportInfo;
}

/**
 * How `other` differs from `first` in what every connection to one export must share (size,
 * transmission flags, granted context names), or undefined. Context ids may differ: the spec
 * makes them per connection.
 */
export function exportMismatch(first: ExportInfo, other: ExportInfo): string | undefined {
  const names = (i: ExportInfo): string => [...i.metaContexts.keys()].sort().join(', ');
  const hex = (f: number): string => `0x${f.toString(16)}`;
  if (other.size !== first.size) {
    return `export size ${other.size}, not ${first.size}`;
  }
  if (other.transmissionFlags !== first.transmissionFlags) {
    return `transmission flags ${hex(other.transmissionFlags)}, not ${hex(first.transmissionFlags)}`;
  }
  if (names(other) !== names(first)) {
    return `metadata contexts [${names(other)}], not [${names(first)}]`;
  }
  return undefined;
}

/** Opens up to `want` connections with `opts`; closes them all and rethrows if any fails. */
export async function openConnections(
  opts: ConnectionOptions,
  want: number,
): Promise<OpenConnections> {
  const first = new Connection(opts);
  const conns = [first];
  try {
    const info = await first.connect();
    if (want > 1 && (info.transmissionFlags & NBD_FLAG_CAN_MULTI_CONN) !== 0) {
      const more = Array.from({ length: want - 1 }, () => new Connection(opts));
      conns.push(...more);
      const settled = await Promise.allSettled(more.map((c) => c.connect()));
      for (const [i, s] of settled.entries()) {
        if (s.status === 'rejected') {
          throw s.reason;
        }
        const diff = exportMismatch(info, s.value);
        if (diff !== undefined) {
          throw new NbdError('NBD_ERR_MULTI_CONN_MISMATCH', `connection ${i + 2}: ${diff}`);
        }
      }
    }
    return { conns, info };
  } catch (e) {
    await Promise.all(conns.map((c) => c.close()));
    throw e;
  }
}
