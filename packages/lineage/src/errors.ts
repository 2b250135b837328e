/**
 * The error class of `@virtvault/lineage`. Callers branch on `code`, never on the message.
 */

/** Lineage error codes with plain-words explanations. */
export const LINEAGE_ERRORS = {
  ALREADY_RUNNING: 'Another run of the domain is recorded as running.',
  CONNECT_FAILED: 'The lineage database could not be reached.',
  DATA_DIR_INVALID:
    'The embedded lineage directory exists but holds no database (e.g. a first start interrupted by an older version); move it away.',
  DATA_DIR_INIT_FAILED: 'A new embedded lineage directory could not be initialised.',
  SQL_FILE_MISSING: 'A SQL or migration file shipped with the package could not be read.',
  MIGRATION_CHECKSUM_MISMATCH:
    'An applied migration file was changed after it ran; migrations are forward-only.',
  MIGRATION_FAILED: 'A migration failed; the transaction was rolled back.',
  LINEAGE_TOO_NEW:
    'The lineage database was migrated by a newer virtvault; an older one would misread it. Upgrade.',
  QUERY_FAILED: 'A lineage query failed.',
  CLOSED: 'The store was used after close().',
  TOKEN_INVALID: 'A token name or role is not valid.',
  TOKEN_EXISTS: 'A token with that name exists.',
} as const;

/** A lineage error code. */
export type LineageErrorCode = keyof typeof LINEAGE_ERRORS;

/** Error thrown by the lineage store, with a stable `code` and the underlying `cause`. */
export class LineageError extends Error {
  /** Stable, machine-readable code. */
  readonly code: LineageErrorCode;

  /**
   * @param code stable code
   * @param message human-readable explanation
   * @param options.cause the underlying error
   */
  constructor(code: LineageErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'LineageError';
    this.code = code;
  }
}
