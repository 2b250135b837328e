import { NBD_ERRNO } from './protocol.js';

/** Stable string codes of every failure this package reports. */
export type NbdErrorCode =
  | 'NBD_ERR_HANDSHAKE_MAGIC'
  | 'NBD_ERR_HANDSHAKE_FLAGS'
  | 'NBD_ERR_OPT_REPLY_MAGIC'
  | 'NBD_ERR_OPT_REPLY_MISMATCH'
  | 'NBD_ERR_OPT_REPLY_LENGTH'
  | 'NBD_ERR_OPT_REPLY_TYPE'
  | 'NBD_ERR_OPT_REJECTED'
  | 'NBD_ERR_EXPORT_UNKNOWN'
  | 'NBD_ERR_EXPORT_INFO'
  | 'NBD_ERR_META_CONTEXT_MISSING'
  | 'NBD_ERR_MULTI_CONN_MISMATCH'
  | 'NBD_ERR_NO_STRUCTURED_REPLY'
  | 'NBD_ERR_REPLY_MAGIC'
  | 'NBD_ERR_REPLY_COOKIE'
  | 'NBD_ERR_REPLY_TYPE'
  | 'NBD_ERR_REPLY_LENGTH'
  | 'NBD_ERR_REPLY_TOO_LONG'
  | 'NBD_ERR_REPLY_RANGE'
  | 'NBD_ERR_REPLY_CONTEXT'
  | 'NBD_ERR_REPLY_INCOMPLETE'
  | 'NBD_ERR_TRUNCATED'
  | 'NBD_ERR_TIMEOUT'
  | 'NBD_ERR_ABORTED'
  | 'NBD_ERR_CLOSED'
  | 'NBD_ERR_SERVER'
  | 'NBD_ERR_UNSUPPORTED'
  | 'NBD_ERR_INVALID_ARGUMENT'
  | 'NBD_ERR_SOCKET'
  | 'NBD_ERR_URI';

/** Name of an NBD error value, e.g. `NBD_EIO`; unknown values map to `NBD_E<n>`. */
export function nbdErrnoName(errno: number): string {
  for (const [name, value] of Object.entries(NBD_ERRNO)) {
    if (value === errno) {
      return name;
    }
  }
  return `NBD_E${errno}`;
}

/** Extra facts attached to an {@link NbdError}. */
export interface NbdErrorDetails {
  /** Server error value (spec: Error values) for NBD_ERR_SERVER. */
  readonly errno?: number;
  /** Offset the server reported with NBD_REPLY_TYPE_ERROR_OFFSET. */
  readonly offset?: number;
  /** Underlying error (socket errors). */
  readonly cause?: unknown;
}

/** The one error class of this package: `code` is stable, `message` is for humans. */
export class NbdError extends Error {
  /** Stable machine-readable code. */
  readonly code: NbdErrorCode;
  /** Server error value, when the server reported one. */
  readonly errno: number | undefined;
  /** Server error name (`NBD_EIO` …), when the server reported one. */
  readonly errnoName: string | undefined;
  /** Offset of a server error, when reported. */
  readonly offset: number | undefined;

  /** Builds an error with a code, a message and optional details. */
  constructor(code: NbdErrorCode, message: string, details: NbdErrorDetails = {}) {
    super(`${code}: ${message}`, details.cause === undefined ? {} : { cause: details.cause });
    this.name = 'NbdError';
    this.code = code;
    this.errno = details.errno;
    this.errnoName = details.errno === undefined ? undefined : nbdErrnoName(details.errno);
    this.offset = details.offset;
  }
}

/** True when `e` is an {@link NbdError}, optionally with the given code. */
export function isNbdError(e: unknown, code?: NbdErrorCode): e is NbdError {
  return e instanceof NbdError && (code === undefined || e.code === code);
}
