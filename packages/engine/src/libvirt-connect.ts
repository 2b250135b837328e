/**
 * The engine's way into libvirt. A connection that fails (no libvirtd on the socket, a bad URI,
 * refused credentials) is `LIBVIRT_CONNECT_FAILED` naming the URI, not libvirt's generic
 * `VIR_ERR_SYSTEM_ERROR`, which a user cannot tell from a failure inside a running backup.
 */
import { Connection, LibvirtError } from '@virtvault/libvirt';

import { EngineError } from './errors.js';

/** Opens a libvirt connection to `uri`; throws `LIBVIRT_CONNECT_FAILED` (caused by libvirt's). */
export async function connectLibvirt(uri: string): Promise<Connection> {
  try {
    return await Connection.connect(uri);
  } catch (e) {
    const why = e instanceof LibvirtError ? e.libvirtMessage : String(e);
    throw new EngineError('LIBVIRT_CONNECT_FAILED', `cannot connect to libvirt at ${uri}: ${why}`, {
      cause: e,
    });
  }
}
