/**
 * What a finished job's outcome means to the queue and the lineage: whether a failed run may be
 * retried, and which snapshots a prune removed.
 */
import { hasErrorCode } from '@virtvault/core';
import type { PgLineageStore } from '@virtvault/lineage';
import type { AgentPruneResult } from '@virtvault/proto';

import { ControllerError, messageOf } from './errors.js';

/**
 * A run's failure as the job queue should take it: not retried when the run was taken over (the
 * run that took over backs the VM up; a retry would queue behind it to repeat it) or when the
 * error underneath is one no retry can fix (an agent's manifest of another domain or host):
 * runBackup records it under its code but wraps it, and the wrapper said nothing of retries.
 */
export function finalOrNot(e: unknown): unknown {
  if (hasErrorCode(e, 'RUN_TAKEN_OVER')) {
    return new ControllerError('RUN_TAKEN_OVER', messageOf(e), { cause: e, retryable: false });
  }
  for (let c: unknown = e; c instanceof Error; c = c.cause) {
    if (c instanceof ControllerError && !c.retryable) {
      return new ControllerError(c.code, messageOf(e), { cause: e, retryable: false });
    }
  }
  return e;
}

/**
 * The snapshots a prune removed: those it says, and those the lineage still has committed (or
 * marked missing) but the repository no longer holds, no newer than the newest kept. A retried prune job finds
 * its snapshots already removed (`removed` empty) when the marking failed the first time; the
 * age bound leaves out snapshots committed after the agent listed the repository.
 */
export async function prunedSnapshots(
  lineage: Pick<PgLineageStore, 'loadLineage'>,
  repository: string,
  domainUuid: string,
  r: AgentPruneResult,
): Promise<string[]> {
  const idOf = (key: string): string => key.slice(key.indexOf('/') + 1);
  const gone = new Set(r.removed.map(idOf));
  const held = new Set([...r.kept, ...r.inUse, ...r.damaged].map(idOf));
  const recorded = await lineage.loadLineage(repository, { uuid: domainUuid, name: '' });
  const kept = recorded.snapshots.filter((s) => held.has(s.id)).map((s) => s.startedAt);
  const newestKept = Math.max(...kept);
  for (const s of recorded.snapshots) {
    // `missing`: a backup's reconcile found it gone between the prune and its retry
    const listed = s.status === 'committed' || s.status === 'missing';
    if (listed && !held.has(s.id) && s.startedAt <= newestKept) {
      gone.add(s.id);
    }
  }
  return [...gone];
}
