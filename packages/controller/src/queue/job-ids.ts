/**
 * Queue names and deterministic job ids. BullMQ 6 refuses `:` in queue names and in custom job
 * ids (it reserves three-part ids with `:` for its own `repeat:<scheduler>:<millis>` jobs), so
 * ours separate parts with `_` and `.`. The domain UUID and the fire time come last, so an id
 * stays unambiguous even when a name contains `_`.
 */

/** The planning queue (one job scheduler per policy). */
export const PLAN_QUEUE = 'plan';

/** The backup queue of one host. */
export function hostQueueName(host: string): string {
  return `host.${host}`;
}

/** The host of a host queue name, or null. */
export function hostOfQueue(queue: string): string | null {
  return queue.startsWith('host.') ? queue.slice('host.'.length) : null;
}

/** The job scheduler id of a policy. */
export function schedulerId(policy: string): string {
  return `policy.${policy}`;
}

/**
 * The backup job of one domain for one fire of a policy (or one manual request): a double fire
 * is one job, and a re-routed job keeps its id on the new host's queue.
 */
export function backupJobId(domainUuid: string, fireTime: number): string {
  return `backup_${domainUuid.toLowerCase()}_${Math.trunc(fireTime)}`;
}

/** The prune job after a backup of one domain. */
export function pruneJobId(domainUuid: string, fireTime: number): string {
  return `prune_${domainUuid.toLowerCase()}_${Math.trunc(fireTime)}`;
}

/** The GC job of one repository after one fire of a policy. */
export function gcJobId(repository: string, fireTime: number): string {
  return `gc_${repository}_${Math.trunc(fireTime)}`;
}

/** The planning job of a manual run of a policy. */
export function planJobId(policy: string, fireTime: number): string {
  return `plan_${policy}_${Math.trunc(fireTime)}`;
}

/**
 * Exponential backoff of attempt `n` (1 = first retry), as BullMQ computes it: `base * 2^(n-1)`.
 * Used for the delay of jobs waiting for a repository slot, capped.
 */
export function backoffMs(baseMs: number, n: number, capMs = 60_000): number {
  return Math.min(capMs, Math.round(baseMs * 2 ** Math.max(0, n - 1)));
}
