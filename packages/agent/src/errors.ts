/**
 * The error class of `@virtvault/agent`. Callers branch on `code`; the server sends it to the
 * controller as the `vv-code` trailer or the `Failure` message.
 */
import { LIBVIRT_CODES } from '@virtvault/core';
import { LibvirtError } from '@virtvault/libvirt';

/** An agent failure with a stable `code` and the underlying `cause`. */
export class AgentError extends Error {
  /** Stable code, e.g. `CONFIG_INVALID`, `REPOSITORY_UNKNOWN`, `AGENT_BUSY`. */
  readonly code: string;

  /**
   * @param code stable code
   * @param message plain-words explanation
   * @param options.cause the underlying error
   */
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AgentError';
    this.code = code;
  }
}

/**
 * Gives a libvirt error that callers branch on our code (`DOMAIN_NOT_FOUND`, …); every other error
 * passes unchanged (it carries its package's code already, or becomes `INTERNAL` on the wire).
 */
export function translateError(e: unknown): unknown {
  if (e instanceof LibvirtError) {
    const code = LIBVIRT_CODES[e.code];
    if (code !== undefined) {
      return new AgentError(code, e.libvirtMessage, { cause: e });
    }
  }
  return e;
}
