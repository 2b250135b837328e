/**
 * What the reply decoder (`decode.ts`) is told and tells: the outstanding requests it looks up,
 * the messages it returns, the caps on what it allocates, the payload it expects next.
 */
/** What the decoder needs to know about an outstanding request. */
export interface PendingInfo {
  /** `read` replies carry data; `status` replies carry extents. */
  readonly kind: 'read' | 'status' | 'other';
  /** Request offset. */
  readonly offset: number;
  /** Request length. */
  readonly length: number;
}

/** Looks up an outstanding request by cookie. */
export type CookieLookup = (cookie: number) => PendingInfo | undefined;

/** One decoded reply message. `data.bytes` is only valid until the next push(). */
export type ReplyMessage =
  | {
      readonly type: 'data';
      readonly cookie: number;
      readonly offset: number;
      readonly bytes: Uint8Array;
    }
  | {
      readonly type: 'hole';
      readonly cookie: number;
      readonly offset: number;
      readonly length: number;
    }
  | {
      readonly type: 'status';
      readonly cookie: number;
      readonly contextId: number;
      readonly pairs: Uint32Array;
    }
  | {
      readonly type: 'error';
      readonly cookie: number;
      readonly errno: number;
      readonly message: string;
      readonly offset: number | undefined;
    }
  | { readonly type: 'done'; readonly cookie: number; readonly errno: number };

/** Caps that bound what a hostile server can make us allocate. */
export interface DecoderLimits {
  /** Largest non-data chunk payload accepted (block status, errors). */
  readonly maxSmallPayload: number;
}

/** Default caps: qemu sends at most 1 MiB of block status descriptors per chunk. */
export const DEFAULT_DECODER_LIMITS: DecoderLimits = { maxSmallPayload: 4 * 1024 * 1024 };

/** The data payload the decoder expects next, for reading straight into place. */
export interface PayloadTarget {
  /** Request cookie. */
  readonly cookie: number;
  /** Export offset of the next payload byte. */
  readonly offset: number;
  /** Payload bytes still expected in this chunk. */
  readonly length: number;
}
