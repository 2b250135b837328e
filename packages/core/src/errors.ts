/**
 * The error class of `@virtvault/core`. Callers branch on `code`, never on the message.
 *
 * Codes are stable strings; they appear in run records, reports and `--json` output.
 */
export class CoreError extends Error {
  /** Stable, machine-readable code such as `ALREADY_RUNNING`. */
  readonly code: string;

  /**
   * @param code stable code
   * @param message human-readable explanation
   * @param options.cause the underlying error, when there is one
   */
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CoreError';
    this.code = code;
  }
}

/** True when `e` is an error carrying the given stable `code` (any package's error class). */
export function hasErrorCode(e: unknown, code: string): boolean {
  return typeof e === 'object' && e !== null && 'code' in e && e.code === code;
}

/** Turns anything thrown into an `Error`, so every `catch` can start from a known shape. */
export function coerceError(e: unknown): Error {
  if (e instanceof Error) {
    return e;
  }
  return new Error(typeof e === 'string' ? e : JSON.stringify(e));
}

/**
 * libvirt's codes that name a failure we have a word of our own for (`DOMAIN_NOT_FOUND` is also
 * what a repository or the lineage says of an unknown VM), so the CLI and the agent report one
 * failure the same way, and callers branch on our code rather than libvirt's.
 */
export const LIBVIRT_CODES: Readonly<Record<string, string>> = {
  VIR_ERR_NO_DOMAIN: 'DOMAIN_NOT_FOUND',
  VIR_ERR_NO_DOMAIN_CHECKPOINT: 'CHECKPOINT_NOT_FOUND',
};

/**
 * The stable code of anything thrown: its string `code` (libvirt's in our words where
 * {@link LIBVIRT_CODES} has them), else `INTERNAL`. A system call's errno
 * (EACCES, EROFS, …: Node's errors carry `syscall`) is `IO_ERROR`: the platform's word is no stable
 * code of ours, and the message keeps it with the path. The CLI prints this code and the agent
 * sends it over gRPC, so both say the same for one failure.
 */
export function stableErrorCode(e: unknown): string {
  if (typeof e !== 'object' || e === null || !('code' in e) || typeof e.code !== 'string') {
    return 'INTERNAL';
  }
  if ('syscall' in e && typeof e.syscall === 'string') {
    return 'IO_ERROR';
  }
  return LIBVIRT_CODES[e.code] ?? e.code;
}
