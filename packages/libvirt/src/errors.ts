/**
 * One error class for everything libvirt reports, with libvirt's error code and domain by name.
 */
import { ERROR_CODE_NAMES, ERROR_DOMAIN_NAMES } from './error-codes.js';

/** Name of a libvirt error code, e.g. `VIR_ERR_NO_DOMAIN`; unknown numbers map to `VIR_ERR_<n>`. */
export function errorCodeName(code: number): string {
  return ERROR_CODE_NAMES[code] ?? `VIR_ERR_${code}`;
}

/** Name of a libvirt error domain, e.g. `VIR_FROM_QEMU`; unknown numbers map to `VIR_FROM_<n>`. */
export function errorDomainName(domain: number): string {
  return ERROR_DOMAIN_NAMES[domain] ?? `VIR_FROM_${domain}`;
}

/** A failed libvirt call. */
export class LibvirtError extends Error {
  /** libvirt's error code by name (`VIR_ERR_NO_DOMAIN`, …). */
  readonly code: string;
  /** libvirt's numeric error code (virErrorNumber). */
  readonly number: number;
  /** Where the error came from (`VIR_FROM_QEMU`, `VIR_FROM_RPC`, …). */
  readonly domain: string;
  /** libvirt's message, e.g. `Domain not found: no domain with matching name 'x'`. */
  readonly libvirtMessage: string;

  /**
   * @param number virErrorNumber
   * @param domain virErrorDomain
   * @param message libvirt's message
   * @param operation what the facade was doing, prefixed to the message
   */
  constructor(number: number, domain: number, message: string, operation?: string) {
    super(operation ? `${operation}: ${message}` : message);
    this.name = 'LibvirtError';
    this.number = number;
    this.code = errorCodeName(number);
    this.domain = errorDomainName(domain);
    this.libvirtMessage = message;
  }
}

interface NativeErrorShape {
  message: string;
  virCode: number;
  virDomain: number;
}

function isNativeError(e: unknown): e is NativeErrorShape {
  return e instanceof Error && typeof (e as Partial<NativeErrorShape>).virCode === 'number';
}

/** Turns the addon's rejection into a LibvirtError (other errors pass through unchanged). */
export function toLibvirtError(e: unknown, operation?: string): unknown {
  if (isNativeError(e)) {
    return new LibvirtError(e.virCode, e.virDomain, e.message, operation);
  }
  return e;
}

/** Runs a native call and maps its failure (synchronous throw or rejection) to LibvirtError. */
export async function call<T>(operation: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw toLibvirtError(e, operation);
  }
}

/** True if `e` is a LibvirtError with error code `code`. */
export function hasCode(e: unknown, code: string): e is LibvirtError {
  return e instanceof LibvirtError && e.code === code;
}

/** The domain does not exist (or vanished). */
export const isNoDomain = (e: unknown): e is LibvirtError => hasCode(e, 'VIR_ERR_NO_DOMAIN');
/** No checkpoint of that name. */
export const isNoCheckpoint = (e: unknown): e is LibvirtError =>
  hasCode(e, 'VIR_ERR_NO_DOMAIN_CHECKPOINT');
/** A checkpoint's bitmap is missing or broken (`checkpoint inconsistent: …`). */
export const isCheckpointInconsistent = (e: unknown): e is LibvirtError =>
  hasCode(e, 'VIR_ERR_CHECKPOINT_INCONSISTENT');
/** The operation is not valid in the domain's current state (not running, already active, …). */
export const isOperationInvalid = (e: unknown): e is LibvirtError =>
  hasCode(e, 'VIR_ERR_OPERATION_INVALID');
/** Timed out, e.g. waiting 30 s for the domain's state change lock. */
export const isOperationTimeout = (e: unknown): e is LibvirtError =>
  hasCode(e, 'VIR_ERR_OPERATION_TIMEOUT');
/** The driver does not support the call (e.g. backups on test:///). */
export const isNoSupport = (e: unknown): e is LibvirtError => hasCode(e, 'VIR_ERR_NO_SUPPORT');
/** Invalid argument (e.g. a redefined checkpoint whose parent is missing). */
export const isInvalidArg = (e: unknown): e is LibvirtError => hasCode(e, 'VIR_ERR_INVALID_ARG');
/** A backup job is not running (`VIR_ERR_NO_DOMAIN_BACKUP`). */
export const isNoBackup = (e: unknown): e is LibvirtError => hasCode(e, 'VIR_ERR_NO_DOMAIN_BACKUP');

/**
 * The guest agent cannot serve a request: no agent channel configured
 * (`VIR_ERR_ARGUMENT_UNSUPPORTED` "QEMU guest agent is not configured"), the agent not connected
 * or not answering (`VIR_ERR_AGENT_UNRESPONSIVE`), or out of sync (`VIR_ERR_AGENT_UNSYNCED`).
 */
export const isAgentUnavailable = (e: unknown): e is LibvirtError =>
  hasCode(e, 'VIR_ERR_AGENT_UNRESPONSIVE') ||
  hasCode(e, 'VIR_ERR_AGENT_UNSYNCED') ||
  (hasCode(e, 'VIR_ERR_ARGUMENT_UNSUPPORTED') && /guest agent/i.test(e.libvirtMessage));

/**
 * The connection is unusable: closed by us, or the daemon went away (EOF, keepalive timeout,
 * socket errors). The caller should reconnect.
 */
export function isConnectionLost(e: unknown): e is LibvirtError {
  if (!(e instanceof LibvirtError)) {
    return false;
  }
  if (['VIR_ERR_INVALID_CONN', 'VIR_ERR_NO_CONNECT', 'VIR_ERR_RPC'].includes(e.code)) {
    return true;
  }
  // libvirt reports a dead socket as a system or internal error from the RPC layer
  return (
    e.domain === 'VIR_FROM_RPC' &&
    ['VIR_ERR_SYSTEM_ERROR', 'VIR_ERR_INTERNAL_ERROR'].includes(e.code)
  );
}
