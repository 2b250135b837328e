/** Parsing of NBD URIs (the NBD URI specification, doc/uri.md). */
import type { Endpoint } from './connection-types.js';
import { NbdError } from './errors.js';

/** A parsed NBD URI. */
export interface NbdUri {
  /** Where the server listens. */
  readonly endpoint: Endpoint;
  /** Export name ('' = default export). */
  readonly exportName: string;
}

/** Parses `nbd://host[:port]/export` or `nbd+unix:///export?socket=/path`. */
export function parseNbdUri(uri: string): NbdUri {
  let u: URL;
  try {
    u = new URL(uri);
  } catch (e) {
    throw new NbdError('NBD_ERR_URI', `not a URI: ${uri}`, { cause: e });
  }
  const exportName = decodeURIComponent(u.pathname.replace(/^\//, ''));
  if (u.protocol === 'nbd+unix:') {
    const socket = u.searchParams.get('socket');
    if (!socket || u.host !== '') {
      throw new NbdError('NBD_ERR_URI', `nbd+unix URI needs ?socket= and no host: ${uri}`);
    }
    return { endpoint: { socket }, exportName };
  }
  if (u.protocol === 'nbd:') {
    const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
    if (host === '') {
      throw new NbdError('NBD_ERR_URI', `nbd URI needs a host: ${uri}`);
    }
    const port = u.port === '' ? 10809 : Number(u.port);
    return { endpoint: { host, port }, exportName };
  }
  throw new NbdError(
    'NBD_ERR_URI',
    `unsupported scheme ${u.protocol} (TLS schemes are not supported)`,
  );
}

/** Where to connect: a URI, a unix socket, or host and port (as in NbdClientOptions). */
export interface EndpointSpec {
  /** An `nbd://` or `nbd+unix://` URI. */
  readonly uri?: string;
  /** Unix socket path. */
  readonly socket?: string;
  /** TCP host (with `port`). */
  readonly host?: string;
  /** TCP port; default 10809. */
  readonly port?: number;
  /** Export name; overrides the URI's. Default ''. */
  readonly exportName?: string;
}

/** The endpoint and export name `o` names; NBD_ERR_INVALID_ARGUMENT when it names none. */
export function resolveEndpoint(o: EndpointSpec): NbdUri {
  if (o.uri !== undefined) {
    const u = parseNbdUri(o.uri);
    return { endpoint: u.endpoint, exportName: o.exportName ?? u.exportName };
  }
  const exportName = o.exportName ?? '';
  if (o.socket !== undefined) {
    return { endpoint: { socket: o.socket }, exportName };
  }
  if (o.host !== undefined) {
    return { endpoint: { host: o.host, port: o.port ?? 10809 }, exportName };
  }
  throw new NbdError('NBD_ERR_INVALID_ARGUMENT', 'need socket, host or uri');
}
