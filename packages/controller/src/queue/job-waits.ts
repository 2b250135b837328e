/**
 * How a job's failure is taken: refusals that say "later" wait without spending an attempt, errors
 * no retry can fix fail the job at once.
 */
import { DelayedError, type Job, UnrecoverableError } from 'bullmq';
import { hasErrorCode } from '@virtvault/core';

import { ControllerError } from '../errors.js';

import { backoffMs } from './job-ids.js';
import type { BackupJobData } from './types.js';

/**
 * Refusals that say "later", not "no": another run of the domain is running, or the agent is at
 * its own limit of backups (its `maxConcurrentBackups` below this host's limit here, or a
 * cancelled backup still cleaning up there) or shutting down. Each attempt spent on them failed a
 * backup that had done no wrong: a fire of 20 VMs on a host whose agent takes 2 lost most of them.
 */
const WAIT_CODES = ['ALREADY_RUNNING', 'AGENT_BUSY', 'AGENT_SHUTTING_DOWN'];

/** Whether `e` is a refusal that says "later" (see `WAIT_CODES`). */
export function isWaitRefusal(e: unknown): boolean {
  return WAIT_CODES.some((code) => hasErrorCode(e, code));
}

/** First wait of a backup whose domain has another run running; doubles per wait, to 60 s. */
const BUSY_FIRST_WAIT_MS = 1000;

/**
 * Another run of the job's domain is running (another policy's, a manual one): the job waits for
 * it without spending an attempt, as for a full repository. The wait ends: the lineage marks a run
 * whose heartbeat stopped abandoned. Retries spent on it failed a backup that had done no wrong.
 */
export async function waitForDomain(
  job: Job,
  token: string | undefined,
  data: BackupJobData,
): Promise<never> {
  const waits = (data.busyWaits ?? 0) + 1;
  await job.updateData({ ...data, busyWaits: waits });
  await job.moveToDelayed(Date.now() + backoffMs(BUSY_FIRST_WAIT_MS, waits), token);
  throw new DelayedError();
}

/** Runs a handler; errors no retry can fix fail the job at once. */
export async function guard<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof ControllerError && !e.retryable) {
      throw new UnrecoverableError(`${e.code}: ${e.message}`);
    }
    throw e;
  }
}
