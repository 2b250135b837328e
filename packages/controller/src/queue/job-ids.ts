/**
 * Queue names and deterministic job ids. BullMQ 6 refuses `:` in queue names and in custom job
 * ids (it reserves three-part ids with `:` for its own `repeat:<scheduler>:<millis>` jobs), so
 * ours separate parts with `_` and `.`. The domain UUID and the fire time come last, so an id
 * stays unambiguous even when a name (a policy's, a host's) contains `_`.
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

/** What names a backup or prune job: one domain, one fire, one policy. */
export interface JobKey {
  /** Policy, null for a manual run without one. */
  policy: string | null;
  /** Domain UUID. */
  domainUuid: string;
  /** The policy's fire time (or the manual request's time), epoch ms. */
  fireTime: number;
}

/**
 * The id's policy part: `-` for none, which no policy name can be (names start with a letter or
 * digit), so a manual run never takes a policy's id.
 */
function policyPart(policy: string | null): string {
  return policy ?? '-';
}

/**
 * The backup job of one domain for one fire of a policy (or one manual request): a double fire
 * is one job, and a re-routed job keeps its id on the new host's queue. Two policies that select
 * the same VM and fire at the same time are two jobs: without the policy in the id, BullMQ kept
 * the first and dropped the other policy's backup without a word.
 */
export function backupJobId(k: JobKey): string {
  return `backup_${policyPart(k.policy)}_${k.domainUuid.toLowerCase()}_${Math.trunc(k.fireTime)}`;
}

/** The prune job after a backup of one domain (per policy, as {@link backupJobId}). */
export function pruneJobId(k: JobKey): string {
  return `prune_${policyPart(k.policy)}_${k.domainUuid.toLowerCase()}_${Math.trunc(k.fireTime)}`;
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
