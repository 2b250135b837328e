/** Errors of worker jobs as the pool's callers see them. */
import { RepoError } from '../errors.js';

/** Errno codes of a filesystem that takes no more data (full, over quota, file size limit). */
const NO_SPACE = new Set(['ENOSPC', 'EDQUOT', 'EFBIG']);

/** The error a worker's failed job rejects with: its own code, `REPO_NO_SPACE`, or a generic one. */
export function workerError(err: { message: string; code?: unknown }): RepoError {
  const code = typeof err.code === 'string' ? err.code : '';
  if (code.startsWith('REPO_')) {
    return new RepoError(code, err.message);
  }
  if (NO_SPACE.has(code)) {
    return new RepoError(
      'REPO_NO_SPACE',
      `the repository's filesystem takes no more data (${err.message}); free space or raise the ` +
        'quota, then run the backup again',
    );
  }
  return new RepoError('REPO_WORKER_FAILED', err.message);
}
