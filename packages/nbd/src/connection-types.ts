/**
 * Types of one NBD connection's interface: where it connects, what it is
 * asked to send, and what a block status reply yields.
 */
import type { DecoderLimits, PendingInfo } from './decode.js';
import type { HandshakeOptions } from './handshake.js';

/** Where the server listens. */
export type Endpoint =
  { readonly socket: string } | { readonly host: string; readonly port: number };

/** Options of one connection. */
export interface ConnectionOptions {
  /** Server address. */
  readonly endpoint: Endpoint;
  /** Negotiation wishes. */
  readonly handshake: HandshakeOptions;
  /** Fail when the server is silent this long with work outstanding. */
  readonly timeoutMs: number;
  /** Decoder caps. */
  readonly limits?: DecoderLimits;
}

/** A command to send. */
export interface Command {
  /** NBD_CMD_*. */
  readonly type: number;
  /** NBD_CMD_FLAG_*. */
  readonly flags: number;
  /** Export offset. */
  readonly offset: number;
  /** Length (payload length for WRITE). */
  readonly length: number;
  /** What the reply carries. */
  readonly kind: PendingInfo['kind'];
  /** WRITE payload. */
  readonly payload?: Uint8Array;
  /** READ destination, exactly `length` bytes. */
  readonly dest?: Uint8Array;
}

/**
 * Block status pairs (length, flags, …) per metadata context name. Names, not ids: the spec
 * makes context ids transient, each connection's own.
 */
export type StatusReply = Map<string, Uint32Array[]>;
