/**
 * Cancellation of backups and repository maintenance: one signal per call, aborted by its caller
 * or by the agent's shutdown, and the error that says which of the two ended it.
 */
import { setMaxListeners } from 'node:events';

import { AgentError } from './errors.js';

/** An AbortController aborted by either signal; `dispose()` detaches it. */
export function linkedAbort(a: AbortSignal, b: AbortSignal): AbortController & { dispose(): void } {
  const c = new AbortController();
  setMaxListeners(0, c.signal);
  const fwd = (s: AbortSignal) => () => c.abort(s.reason);
  const fa = fwd(a);
  const fb = fwd(b);
  for (const [s, f] of [
    [a, fa],
    [b, fb],
  ] as const) {
    if (s.aborted) {
      f();
    } else {
      s.addEventListener('abort', f, { once: true });
    }
  }
  return Object.assign(c, {
    dispose: () => {
      a.removeEventListener('abort', fa);
      b.removeEventListener('abort', fb);
    },
  });
}

/** The error of a backup ended by its signal: shutting down, or cancelled by the caller. */
export function cancelledError(signal: AbortSignal, stopping: AbortSignal): AgentError | null {
  if (!signal.aborted) {
    return null;
  }
  return stopping.aborted
    ? new AgentError('AGENT_SHUTTING_DOWN', 'the agent is shutting down; the backup was cleaned up')
    : new AgentError('BACKUP_CANCELLED', 'the backup was cancelled and cleaned up');
}

/**
 * The error of repository maintenance (`what`: prune, GC) ended by its signal: shutting down
 * (the controller tries again elsewhere or later), or cancelled by its caller.
 */
export function interruptedError(
  signal: AbortSignal,
  stopping: AbortSignal,
  what: string,
): AgentError | null {
  if (!signal.aborted) {
    return null;
  }
  return stopping.aborted
    ? new AgentError('AGENT_SHUTTING_DOWN', `the agent is shutting down; the ${what} stopped`)
    : new AgentError('CANCELLED', `the ${what} was cancelled by its caller`);
}
