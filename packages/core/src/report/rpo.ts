/**
 * Protection status of one VM against its recovery point objective (RPO): how old its last good
 * snapshot may be. Pure: the caller passes the times.
 */
import { REASONS, type ReasonCode, isReasonCode } from '../model/reasons.js';

/** Default RPO: a daily schedule plus two hours of slack. */
export const DEFAULT_RPO_MS = 26 * 3_600_000;

/**
 * `ok`: the last good snapshot is within the RPO and the last run did not fail;
 * `at-risk`: within the RPO, but the last run failed (the next miss violates it);
 * `violated`: the last good snapshot is older than the RPO;
 * `never`: no good snapshot at all.
 */
export type RpoStatus = 'ok' | 'at-risk' | 'violated' | 'never';

/** Inputs of {@link rpoStatus}. */
export interface RpoInput {
  /** End of the last committed snapshot, epoch ms, or null. */
  lastGoodAt: number | null;
  /** Status of the most recent run, or null when none ran. */
  lastRunStatus: string | null;
  /** The RPO, ms. */
  rpoMs: number;
  /** Now, epoch ms. */
  now: number;
}

/** The VM's RPO status. */
export function rpoStatus(i: RpoInput): RpoStatus {
  if (i.lastGoodAt === null) {
    return 'never';
  }
  if (i.now - i.lastGoodAt > i.rpoMs) {
    return 'violated';
  }
  return i.lastRunStatus === 'failed' || i.lastRunStatus === 'abandoned' ? 'at-risk' : 'ok';
}

/** Whether the status asks for attention. */
export function isUnprotected(s: RpoStatus): boolean {
  return s === 'violated' || s === 'never';
}

/** `full` reasons that break no chain: no parent yet, the policy's own wish, a domain that has none. */
const NOT_BREAKS: readonly string[] = ['NO_PARENT', 'POLICY_FULL', 'BITMAPS_UNSUPPORTED'];

/**
 * A chain break: a reason that forced a full although the chain should have continued (every
 * `full` effect except no parent at all, the policy's own wish, and a domain whose disks cannot
 * hold bitmaps: full by design every night, which reports and webhooks must not call a break).
 */
export function isChainBreak(code: string): code is ReasonCode {
  return isReasonCode(code) && REASONS[code].effect === 'full' && !NOT_BREAKS.includes(code);
}
