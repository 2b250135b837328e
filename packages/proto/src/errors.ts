/**
 * The error class of `@virtvault/proto`. Callers branch on `code`, never on the message.
 *
 * Codes of our own: `BAD_MESSAGE` (a message that breaks the contract, e.g. an unknown enum
 * string), `AGENT_UNAVAILABLE`, `AGENT_TIMEOUT`, `AGENT_CANCELLED`, `AGENT_TLS_REFUSED`,
 * `AGENT_UNIMPLEMENTED` (an older agent without the method), `AGENT_MESSAGE_TOO_LARGE` (a request
 * or reply beyond gRPC's message size limit). Every other
 * code is the agent's, carried over the wire unchanged (`vv-code` trailer or `Failure.code`).
 */
export class ProtoError extends Error {
  /** Stable, machine-readable code such as `AGENT_UNAVAILABLE` or `DOMAIN_NOT_FOUND`. */
  readonly code: string;

  /**
   * @param code stable code
   * @param message plain-words explanation
   * @param options.cause the underlying error (a gRPC status error, for transport failures)
   */
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ProtoError';
    this.code = code;
  }
}

/** Throws `BAD_MESSAGE` unless `value` is one of `allowed`; returns it narrowed. */
export function oneOf<T extends string>(field: string, value: string, allowed: readonly T[]): T {
  if ((allowed as readonly string[]).includes(value)) {
    return value as T;
  }
  const list = allowed.map((a) => `"${a}"`).join(', ');
  throw new ProtoError('BAD_MESSAGE', `${field} must be one of ${list}, not "${value}"`);
}

/** The message's required sub-message, or `BAD_MESSAGE` naming the field. */
export function required<T>(field: string, value: T | null | undefined): T {
  if (value === null || value === undefined) {
    throw new ProtoError('BAD_MESSAGE', `${field} is missing`);
  }
  return value;
}
