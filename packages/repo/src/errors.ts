/**
 * The error class of `@virtvault/repo`. Callers branch on `code`, never on the message.
 *
 * Codes (stable): `REPO_FORMAT_UNSUPPORTED`, `REPO_NOT_FOUND`, `REPO_UNREADABLE`, `REPO_EXISTS`, `REPO_INVALID_ID`,
 * `REPO_PATH_ESCAPE`, `REPO_CHUNK_MISSING`, `REPO_CHUNK_CORRUPT`, `REPO_CHUNK_UNREADABLE` (the system
 * refused to read a chunk's file: I/O error, permissions), `REPO_INDEX_CORRUPT`,
 * `REPO_MANIFEST_INVALID`, `REPO_SNAPSHOT_NOT_FOUND`, `REPO_SNAPSHOT_EXISTS`, `REPO_PARENT_MISSING`,
 * `REPO_BAD_ARGUMENT`, `REPO_STATE`, `REPO_LOCKED`, `REPO_LEASE_LOST`, `REPO_CLOSED`, `REPO_WORKER_FAILED`,
 * `REPO_NO_SPACE` (the filesystem refused a chunk: full, over quota or a file size limit),
 * `REPO_INTERRUPTED` (a long operation stopped by its caller's signal), `REPO_CHUNK_QUARANTINED` (a
 * parent snapshot reaches a chunk verify set aside).
 */
export class RepoError extends Error {
  /** Stable, machine-readable code such as `REPO_CHUNK_CORRUPT`. */
  readonly code: string;

  /**
   * @param code stable code
   * @param message human-readable explanation
   * @param options.cause the underlying error, when there is one
   */
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RepoError';
    this.code = code;
  }
}

/** True when `e` is a Node system error with the given errno code (e.g. `ENOENT`). */
export function isErrno(e: unknown, code: string): boolean {
  return typeof e === 'object' && e !== null && 'code' in e && e.code === code;
}

/** Throws `REPO_INTERRUPTED` naming `what` once `signal` is aborted; does nothing otherwise. */
export function throwIfInterrupted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted !== true) {
    return;
  }
  const why = signal.reason instanceof Error ? signal.reason.message : String(signal.reason);
  throw new RepoError('REPO_INTERRUPTED', `${what} interrupted: ${why}`, { cause: signal.reason });
}
