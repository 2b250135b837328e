/** @virtvault/nbd: a pure-TypeScript NBD client. */
export { NbdClient } from './client.js';
export type { CommandOptions, Extent, NbdClientOptions } from './client.js';
export { NbdError, isNbdError, nbdErrnoName } from './errors.js';
export type { NbdErrorCode, NbdErrorDetails } from './errors.js';
export { walkExtents, mergeExtents, interpret } from './extents.js';
export type { BlockStatusSource, MergedExtent, WalkOptions } from './extents.js';
export type { BlockSize, ExportInfo } from './handshake.js';
export { parseNbdUri } from './uri.js';
export type { NbdUri } from './uri.js';
export type { Endpoint } from './connection-types.js';
export * as protocol from './protocol.js';
