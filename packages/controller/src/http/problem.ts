/**
 * HTTP errors of the API: `{ "error": { "code", "message" } }` with a status chosen from the
 * stable code, so clients branch on the code and humans read the message.
 */

/** An error answer. */
export interface Problem {
  /** HTTP status. */
  status: number;
  /** Stable code. */
  code: string;
  /** Plain words. */
  message: string;
}

/** Status for codes that do not end in a known suffix. */
const BY_CODE: Readonly<Record<string, number>> = {
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  BAD_REQUEST: 400,
  PAYLOAD_TOO_LARGE: 413,
  CONFIG_INVALID: 400,
  TOKEN_INVALID: 400,
  TOKEN_EXISTS: 409,
  ALREADY_EXISTS: 409,
  ALREADY_RUNNING: 409,
  AGENT_UNAVAILABLE: 502,
  AGENT_TIMEOUT: 504,
};

/** The status for a stable error code. */
export function statusForCode(code: string): number {
  const known = BY_CODE[code];
  if (known !== undefined) {
    return known;
  }
  if (code.endsWith('_NOT_FOUND') || code.endsWith('_UNKNOWN')) {
    return 404;
  }
  if (code.endsWith('_INVALID') || code.startsWith('BAD_')) {
    return 400;
  }
  if (code.endsWith('_EXISTS')) {
    return 409;
  }
  return 500;
}

/**
 * An error to throw from a handler: a plain `Error` with a stable `code` (the controller's error
 * class is for the controller's own failures; the API only needs the code to pick a status).
 */
export function problem(code: string, message: string): Error & { code: string } {
  return Object.assign(new Error(message), { code });
}

/**
 * Codes that are not ours: Node's errnos (`ECONNREFUSED`) and internal codes (`ERR_…`). Their
 * messages name addresses, files and SQL: they are not answered as they are.
 */
const FOREIGN_CODE = /^E[A-Z]+$|^ERR_/;

/**
 * Turns anything thrown into a problem; errors without a string `code` of ours become `INTERNAL`.
 * A 500's message says only that it is one: its text (a driver's, naming the database's address
 * or SQL) goes to the log (see `HttpApiOptions.logError`), never to the caller.
 */
export function toProblem(e: unknown): Problem {
  let code = 'INTERNAL';
  if (typeof e === 'object' && e !== null) {
    const c = (e as { code?: unknown }).code;
    if (typeof c === 'string' && /^[A-Z][A-Z0-9_]*$/.test(c) && !FOREIGN_CODE.test(c)) {
      code = c;
    }
  }
  const status = code === 'INTERNAL' ? 500 : statusForCode(code);
  if (status === 500) {
    return {
      status,
      code,
      message: `internal error (${code}); the controller's log has the details`,
    };
  }
  const message = (e as { message?: unknown }).message;
  return { status, code, message: typeof message === 'string' ? message : code };
}

/** The text of anything thrown, for the log. */
export function detailOf(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}
