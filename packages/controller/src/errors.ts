/**
 * The error class of `@virtvault/controller`. Callers branch on `code`, never on the message.
 */

/** Error of the controller, with a stable `code` and the underlying `cause`. */
export class ControllerError extends Error {
  /** Stable, machine-readable code such as `CONFIG_INVALID` or `AGENT_UNAVAILABLE`. */
  readonly code: string;
  /** False when retrying the same job cannot help (unknown domain, bad policy). */
  readonly retryable: boolean;

  /**
   * @param code stable code
   * @param message plain words
   * @param options.cause the underlying error
   * @param options.retryable whether a retry may succeed @default true
   */
  constructor(code: string, message: string, options?: { cause?: unknown; retryable?: boolean }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ControllerError';
    this.code = code;
    this.retryable = options?.retryable ?? true;
  }
}

/** The stable code of anything thrown (`INTERNAL` when it carries none). */
export function codeOf(e: unknown): string {
  if (typeof e === 'object' && e !== null && 'code' in e && typeof e.code === 'string') {
    return e.code;
  }
  return 'INTERNAL';
}

/** The message of anything thrown. */
export function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
