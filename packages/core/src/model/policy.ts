/**
 * The level rules of a backup policy, as the chain planner needs them.
 */

/** Level asked for: `auto` lets the planner choose (incremental when possible). */
export type RequestedLevel = 'auto' | 'full' | 'incremental' | 'differential';

/** Level rules. Every limit is optional; an absent limit never forces a full. */
export interface LevelPolicy {
  /** Requested level. `full` always takes a full (`POLICY_FULL`). */
  level: RequestedLevel;
  /** Snapshots allowed after a full before the next full; e.g. 6 gives full + 6. */
  maxChainLength?: number;
  /** Age of the last full (ms) at which the next backup is a full. */
  maxFullAgeMs?: number;
  /** Weekdays (0 = Sunday … 6 = Saturday, in `timeZone`) on which the first backup of the day is a full. */
  fullOnWeekdays?: readonly number[];
  /** IANA time zone for `fullOnWeekdays`. @default 'UTC' */
  timeZone?: string;
  /**
   * Not a level rule, but it travels with them to every run of a fleet policy: freeze the guest's
   * filesystems through its agent (see `BackupRequest.quiesce`). @default false
   */
  quiesce?: boolean;
}
