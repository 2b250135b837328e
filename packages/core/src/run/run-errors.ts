/**
 * Error codes `runBackup` throws (as `CoreError`) and stores on failed runs.
 */

/** Run error codes with plain-words explanations. */
export const RUN_ERRORS = {
  ALREADY_RUNNING: 'Another backup of this domain is running; this one did not start.',
  INCREMENTAL_REJECTED:
    'The hypervisor refused the incremental at backup start (executor contract); runBackup retries once as a full.',
  PARENT_UNREADABLE:
    'The parent snapshot could not be read from the repository before any data was written (a damaged index or manifest); runBackup retries once as a full.',
  BACKUP_FAILED: 'The backup failed; the cause holds the underlying error.',
  LINEAGE_COMMIT_FAILED:
    'The repository committed the snapshot but the lineage could not record it; the next run imports it from the manifest.',
  RUN_ABANDONED: 'The run stopped sending heartbeats (process crashed) and a later run took over.',
  RUN_TAKEN_OVER:
    'The run learned at a heartbeat that a later run had taken it over (its heartbeats had stalled); it stopped with nothing committed.',
} as const;

/** A run error code. */
export type RunErrorCode = keyof typeof RUN_ERRORS;
