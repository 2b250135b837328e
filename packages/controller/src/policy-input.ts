/**
 * Reading a backup policy from untrusted input (the config file or the API), with errors naming
 * the field. Cron patterns are checked by the scheduler when the policy is scheduled.
 */
import { isTimeZone, type LevelPolicy, type RequestedLevel } from '@virtvault/core';
import type {
  FleetPolicy,
  PolicyNotify,
  PolicyRetention,
  PolicySelector,
} from '@virtvault/lineage';

import { type Fields, MAX_RPO_HOURS, NAME_RE } from './validate.js';

const LEVELS: readonly RequestedLevel[] = ['auto', 'full', 'incremental', 'differential'];
const CRON_RE = /^\S+(\s+\S+){4,5}$/;

function timeZone(f: Fields): string {
  const tz = f.str();
  if (!isTimeZone(tz)) {
    f.fail(`names no known time zone: "${tz}"`);
  }
  return tz;
}

function selector(f: Fields): PolicySelector {
  f.only(['nameGlob', 'host', 'tag']);
  const out: PolicySelector = {};
  const glob = f.at('nameGlob').opt((x) => x.str());
  const host = f.at('host').opt((x) => x.str(NAME_RE, 'a host name'));
  const tag = f.at('tag').opt((x) => x.str());
  if (glob !== undefined) {
    out.nameGlob = glob;
  }
  if (host !== undefined) {
    out.host = host;
  }
  if (tag !== undefined) {
    out.tag = tag;
  }
  return out;
}

/** Level rules: a bare level name or core `LevelPolicy` fields. */
function level(f: Fields, tz: string): LevelPolicy {
  if (typeof f.value === 'string') {
    return { level: f.oneOf(LEVELS), timeZone: tz };
  }
  f.only(['level', 'maxChainLength', 'maxFullAgeMs', 'fullOnWeekdays', 'timeZone', 'quiesce']);
  const out: LevelPolicy = {
    level: f.at('level').opt((x) => x.oneOf(LEVELS), 'auto' as const),
    timeZone: f.at('timeZone').opt(timeZone, tz),
  };
  const chain = f.at('maxChainLength').opt((x) => x.int(0));
  const age = f.at('maxFullAgeMs').opt((x) => x.int(1));
  const days = f.at('fullOnWeekdays').opt((x) => x.items().map((d) => d.int(0, 6)));
  if (chain !== undefined) {
    out.maxChainLength = chain;
  }
  if (age !== undefined) {
    out.maxFullAgeMs = age;
  }
  if (days !== undefined) {
    out.fullOnWeekdays = days;
  }
  if (f.at('quiesce').opt((x) => x.bool(), false)) {
    out.quiesce = true;
  }
  return out;
}

function retention(f: Fields): PolicyRetention {
  f.only(['keepLast', 'keepDaily', 'keepWeekly', 'keepMonthly']);
  const r = {
    keepLast: f.at('keepLast').opt((x) => x.int(0), 0),
    keepDaily: f.at('keepDaily').opt((x) => x.int(0), 0),
    keepWeekly: f.at('keepWeekly').opt((x) => x.int(0), 0),
    keepMonthly: f.at('keepMonthly').opt((x) => x.int(0), 0),
  };
  if (r.keepLast + r.keepDaily + r.keepWeekly + r.keepMonthly === 0) {
    // An empty retention would remove every snapshot: refuse rather than guess.
    f.fail('needs at least one positive keep rule');
  }
  return r;
}

const NOTIFY_KINDS = ['rpo-violation', 'run-failed', 'chain-break'] as const;

function notify(f: Fields): PolicyNotify {
  f.only(['webhooks', 'events']);
  return {
    webhooks: f
      .at('webhooks')
      .opt((x) => x.items().map((u) => u.str(/^https?:\/\/\S+$/, 'an http(s) URL')), []),
    events: f.at('events').opt((x) => x.items().map((e) => e.oneOf(NOTIFY_KINDS)), []),
  };
}

/** Reads one policy. */
export function readPolicy(f: Fields): FleetPolicy {
  f.only([
    'name',
    'selector',
    'cron',
    'timeZone',
    'level',
    'retention',
    'repository',
    'enabled',
    'rpoHours',
    'notify',
  ]);
  const tz = f.at('timeZone').opt(timeZone, 'UTC');
  return {
    name: f.at('name').str(NAME_RE, 'letters, digits, ".", "_" or "-"'),
    selector: f.at('selector').opt(selector, {}),
    cron: f.at('cron').str(CRON_RE, 'a cron pattern of 5 or 6 fields'),
    timeZone: tz,
    level: f.at('level').opt((x) => level(x, tz), { level: 'auto' as const, timeZone: tz }),
    retention: f.at('retention').opt(retention, null),
    repository: f.at('repository').str(NAME_RE, 'a repository name'),
    enabled: f.at('enabled').opt((x) => x.bool(), true),
    rpoHours: f.at('rpoHours').opt((x) => x.num(0.001, MAX_RPO_HOURS), null),
    notify: f.at('notify').opt(notify, { webhooks: [], events: [] }),
  };
}
