/**
 * GFS retention selection: which snapshots to keep under keep-last / -hourly / -daily / -weekly /
 * -monthly / -yearly rules, plus protected snapshots. Pure: time and time zone are inputs.
 */
import { CoreError } from '../errors.js';

/** How many snapshots to keep per rule; absent or 0 disables a rule. */
export interface RetentionPolicy {
  /** The newest N snapshots. */
  keepLast?: number;
  /** The newest snapshot of each of the last N hours that have one. */
  keepHourly?: number;
  /** The newest snapshot of each of the last N days that have one. */
  keepDaily?: number;
  /** The newest snapshot of each of the last N ISO weeks that have one. */
  keepWeekly?: number;
  /** The newest snapshot of each of the last N months that have one. */
  keepMonthly?: number;
  /** The newest snapshot of each of the last N years that have one. */
  keepYearly?: number;
}

/** A snapshot to decide on. */
export interface RetentionCandidate {
  /** Snapshot id. */
  id: string;
  /** Snapshot time, ISO 8601 with an offset or `Z`. */
  time: string;
  /** Protected snapshots are always kept. */
  protected?: boolean;
  /**
   * The domain's newest full, which its next differential builds on: always kept, so retention
   * never turns the next differential into a full (reported as a chain break).
   */
  base?: boolean;
}

/** Why a snapshot is kept. */
export type RetentionReason =
  'last' | 'hourly' | 'daily' | 'weekly' | 'monthly' | 'yearly' | 'protected' | 'future' | 'base';

/** The decision for one snapshot. */
export interface RetentionDecision {
  /** Snapshot id. */
  id: string;
  /** Snapshot time as given. */
  time: string;
  /** Reasons it is kept; empty for removal. */
  reasons: RetentionReason[];
}

/** Input of {@link selectRetention}. */
export interface RetentionInput {
  /** Snapshots of one domain. */
  snapshots: readonly RetentionCandidate[];
  /** Rules. At least one must be positive. */
  policy: RetentionPolicy;
  /** The current time, ms since the epoch: snapshots after it are kept (`future`) and clock skew never deletes them. */
  now: number;
  /** IANA time zone that defines hours, days, weeks, months and years (e.g. `Europe/Berlin`, `UTC`). */
  timeZone: string;
}

/** Output of {@link selectRetention}: newest first. */
export interface RetentionResult {
  /** Snapshots to keep, with reasons. */
  keep: RetentionDecision[];
  /** Snapshots to remove. */
  remove: RetentionDecision[];
}

type Rule = Exclude<RetentionReason, 'protected' | 'future' | 'base'>;

const RULES: { rule: Rule; field: keyof RetentionPolicy }[] = [
  { rule: 'last', field: 'keepLast' },
  { rule: 'hourly', field: 'keepHourly' },
  { rule: 'daily', field: 'keepDaily' },
  { rule: 'weekly', field: 'keepWeekly' },
  { rule: 'monthly', field: 'keepMonthly' },
  { rule: 'yearly', field: 'keepYearly' },
];

/** Whether `tz` is an IANA time zone this runtime knows (checked before work: a usage error). */
export function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/**
 * Selects the snapshots to keep. Each rule walks the snapshots newest first and keeps the newest one
 * of each new period (in `timeZone`) until it has kept its count. Throws `CoreError` with
 * `RETENTION_EMPTY_POLICY`, `RETENTION_BAD_POLICY`, `RETENTION_BAD_TIMEZONE` or `RETENTION_BAD_TIME`.
 */
export function selectRetention(input: RetentionInput): RetentionResult {
  checkPolicy(input.policy);
  const fmt = formatter(input.timeZone);
  const items = input.snapshots
    .map((s) => ({ s, ms: parseTime(s), reasons: new Set<RetentionReason>() }))
    .sort((a, b) => b.ms - a.ms || (a.s.id < b.s.id ? 1 : a.s.id > b.s.id ? -1 : 0));
  for (const it of items) {
    if (it.s.protected === true) {
      it.reasons.add('protected');
    }
    if (it.s.base === true) {
      it.reasons.add('base');
    }
    if (it.ms > input.now) {
      it.reasons.add('future');
    }
  }
  for (const { rule, field } of RULES) {
    let left = input.policy[field] ?? 0;
    let last: string | null = null;
    for (const it of items) {
      if (left <= 0) {
        break;
      }
      const key = rule === 'last' ? it.s.id : periodKey(fmt, it.ms, rule);
      if (key !== last) {
        it.reasons.add(rule);
        left--;
        last = key;
      }
    }
  }
  const decided = items.map((it) => ({ id: it.s.id, time: it.s.time, reasons: [...it.reasons] }));
  return {
    keep: decided.filter((d) => d.reasons.length > 0),
    remove: decided.filter((d) => d.reasons.length === 0),
  };
}

function checkPolicy(p: RetentionPolicy): void {
  let any = false;
  for (const { field } of RULES) {
    const n = p[field];
    if (n === undefined) {
      continue;
    }
    if (!Number.isInteger(n) || n < 0) {
      throw new CoreError('RETENTION_BAD_POLICY', `${field} must be a non-negative integer`);
    }
    any ||= n > 0;
  }
  if (!any) {
    // An empty policy would remove every snapshot: refuse rather than guess.
    throw new CoreError(
      'RETENTION_EMPTY_POLICY',
      'a retention policy needs at least one positive keep rule',
    );
  }
}

function parseTime(s: RetentionCandidate): number {
  const ms = /(Z|[+-]\d\d:?\d\d)$/.test(s.time) ? Date.parse(s.time) : Number.NaN;
  if (Number.isNaN(ms)) {
    throw new CoreError(
      'RETENTION_BAD_TIME',
      `snapshot ${s.id} has no valid ISO 8601 time with offset: ${s.time}`,
    );
  }
  return ms;
}

function formatter(timeZone: string): Intl.DateTimeFormat {
  try {
    return new Intl.DateTimeFormat('en-US', {
      timeZone,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      hourCycle: 'h23',
    });
  } catch (e) {
    throw new CoreError('RETENTION_BAD_TIMEZONE', `unknown time zone ${timeZone}`, { cause: e });
  }
}

/** The period a time falls in, in the formatter's time zone. */
function periodKey(fmt: Intl.DateTimeFormat, ms: number, rule: Exclude<Rule, 'last'>): string {
  const parts: Record<string, number> = {};
  for (const p of fmt.formatToParts(new Date(ms))) {
    if (p.type !== 'literal') {
      parts[p.type] = Number(p.value);
    }
  }
  const y = parts['year'] ?? 0;
  const m = parts['month'] ?? 1;
  const d = parts['day'] ?? 1;
  switch (rule) {
    case 'hourly':
      return `${y}-${m}-${d}T${parts['hour'] ?? 0}`;
    case 'daily':
      return `${y}-${m}-${d}`;
    case 'weekly':
      return isoWeek(y, m, d);
    case 'monthly':
      return `${y}-${m}`;
    case 'yearly':
      return `${y}`;
  }
}

/** ISO 8601 week (`YYYY-Www`) of a calendar date, computed on a UTC date so no zone leaks in. */
function isoWeek(y: number, m: number, d: number): string {
  const date = new Date(Date.UTC(y, m - 1, d));
  const dow = (date.getUTCDay() + 6) % 7; // Monday = 0
  date.setUTCDate(date.getUTCDate() - dow + 3); // the week's Thursday decides its year
  const weekYear = date.getUTCFullYear();
  const yearStart = Date.UTC(weekYear, 0, 1);
  const week = Math.ceil(((date.getTime() - yearStart) / 86_400_000 + 1) / 7);
  return `${weekYear}-W${week}`;
}
