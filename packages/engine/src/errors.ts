/**
 * The error class of `@virtvault/engine`. Callers branch on `code`.
 *
 * `INCREMENTAL_REJECTED` and `PARENT_UNREADABLE` are the codes core's `runBackup` retries as a
 * full (the hypervisor refused the incremental at backup start; the parent snapshot's index or
 * manifest could not be read), both before any data was written.
 */
export const ENGINE_ERROR_CODES = [
  'INCREMENTAL_REJECTED',
  'PARENT_UNREADABLE',
  'BACKUP_JOB_ACTIVE',
  'BACKUP_JOB_NOT_ENDED',
  'BACKUP_START_FAILED',
  'NBD_EXPORT_MISSING',
  'DOMAIN_STARTED_DURING_BACKUP',
  'DISK_UNSUPPORTED',
  'QEMU_NBD_FAILED',
  'QEMU_IMG_FAILED',
  'RESTORE_FAILED',
  'RESTORE_TARGET_EXISTS',
  'RESTORE_DISK_UNKNOWN',
  'RESTORE_INTERRUPTED',
  'RESTORE_NO_SPACE',
  'BACKUP_INTERRUPTED',
  'CHECKPOINT_CREATE_FAILED',
  'SCRATCH_NO_SPACE',
  'SCRATCH_UNSAFE',
  'LIBVIRT_CONNECT_FAILED',
  'DISKS_CHANGED',
  'DISK_IN_USE',
  'IMAGE_LOCK_UNAVAILABLE',
  'IMAGE_LOCK_FAILED',
] as const;

/** A stable engine error code. */
export type EngineErrorCode = (typeof ENGINE_ERROR_CODES)[number];

/** An engine failure with a stable `code` and the underlying `cause`. */
export class EngineError extends Error {
  /** Stable code. */
  readonly code: EngineErrorCode;

  /**
   * @param code stable code
   * @param message plain-words explanation
   * @param options.cause the underlying error
   */
  constructor(code: EngineErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'EngineError';
    this.code = code;
  }
}

/**
 * `BACKUP_INTERRUPTED` (caused by `e`) when the caller's `signal` stopped the run, else `e` as it
 * is: an interrupted backup otherwise surfaced as whatever it was doing, such as NBD_ERR_ABORTED.
 */
export function interruptedOr(signal: AbortSignal | undefined, e: unknown): unknown {
  if (signal?.aborted !== true || (e instanceof EngineError && e.code === 'BACKUP_INTERRUPTED')) {
    return e;
  }
  return interruptedError('BACKUP_INTERRUPTED', 'backup', signal, e);
}

/** `code` for `what` stopped by `signal` (its reason in the message), caused by `cause`. */
export function interruptedError(
  code: 'BACKUP_INTERRUPTED' | 'RESTORE_INTERRUPTED',
  what: string,
  signal: AbortSignal,
  cause: unknown,
): EngineError {
  const why = signal.reason instanceof Error ? signal.reason.message : String(signal.reason);
  return new EngineError(code, `${what} interrupted: ${why}`, { cause });
}
