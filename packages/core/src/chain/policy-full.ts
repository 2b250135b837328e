/**
 * The policy rules that force a full (`POLICY_FULL`): requested full, chain length cap, age of
 * the last full, full-backup weekdays.
 */
import type { LineageSnapshot } from '../model/lineage.js';
import type { LevelPolicy } from '../model/policy.js';

/** Position of the last full in `snapshots` (oldest first), or -1. */
export function lastFullIndex(snapshots: readonly LineageSnapshot[]): number {
  for (let i = snapshots.length - 1; i >= 0; i--) {
    if (snapshots[i]?.level === 'full') {
      return i;
    }
  }
  return -1;
}

/** Calendar day (`YYYY-MM-DD`) and weekday (0 = Sunday) of `epochMs` in `timeZone`. */
export function localDay(epochMs: number, timeZone: string): { day: string; weekday: number } {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    weekday: 'short',
  }).formatToParts(new Date(epochMs));
  const get = (type: string): string => parts.find((p) => p.type === type)?.value ?? '';
  const weekdays = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
  return {
    day: `${get('year')}-${get('month')}-${get('day')}`,
    weekday: weekdays.indexOf(get('weekday')),
  };
}

/**
 * Why the policy wants a full now, or null. `snapshots` are the repository's snapshots of the
 * domain, oldest first; `now` is epoch ms.
 */
export function policyFullCause(
  policy: LevelPolicy,
  snapshots: readonly LineageSnapshot[],
  now: number,
): string | null {
  if (policy.level === 'full') {
    return 'a full backup was requested';
  }
  const fullAt = lastFullIndex(snapshots);
  const lastFull = fullAt >= 0 ? snapshots[fullAt] : undefined;
  const sinceFull = snapshots.length - 1 - fullAt;
  if (policy.maxChainLength !== undefined && sinceFull >= policy.maxChainLength) {
    return `${sinceFull} snapshots since the last full reach the chain length cap of ${policy.maxChainLength}`;
  }
  if (
    policy.maxFullAgeMs !== undefined &&
    lastFull &&
    now - lastFull.startedAt >= policy.maxFullAgeMs
  ) {
    return `the last full (${lastFull.id}) is older than ${policy.maxFullAgeMs} ms`;
  }
  if (policy.fullOnWeekdays && policy.fullOnWeekdays.length > 0) {
    const tz = policy.timeZone ?? 'UTC';
    const today = localDay(now, tz);
    const fullToday = lastFull !== undefined && localDay(lastFull.startedAt, tz).day === today.day;
    if (policy.fullOnWeekdays.includes(today.weekday) && !fullToday) {
      return `weekday ${today.weekday} (${tz}) is a full-backup day and no full was taken today`;
    }
  }
  return null;
}
