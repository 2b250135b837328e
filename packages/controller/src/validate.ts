/**
 * Small readers of untrusted values (YAML config, API bodies) that fail with one stable code and
 * the path of the offending field, e.g. `CONFIG_INVALID: policies[0].cron must be a string`.
 */
import { ControllerError } from './errors.js';

/** A reader bound to an error code and a field path. */
export class Fields {
  /**
   * @param code error code of every failure (`CONFIG_INVALID`, `POLICY_INVALID`)
   * @param path field path of `value`, '' at the root
   * @param value the value read
   */
  constructor(
    readonly code: string,
    readonly path: string,
    readonly value: unknown,
  ) {}

  /** Fails naming the field. */
  fail(what: string): never {
    const where = this.path === '' ? 'the document' : this.path;
    throw new ControllerError(this.code, `${where} ${what}`, { retryable: false });
  }

  /** The field `key` of this object. */
  at(key: string): Fields {
    const p = this.path === '' ? key : `${this.path}.${key}`;
    return new Fields(this.code, p, this.object()[key]);
  }

  /** True when the field is absent (undefined or null). */
  get absent(): boolean {
    return this.value === undefined || this.value === null;
  }

  /** This value as a plain object. */
  object(): Record<string, unknown> {
    const v = this.value;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) {
      this.fail('must be an object');
    }
    return v as Record<string, unknown>;
  }

  /** Fails on keys other than `allowed` (typos must not pass silently). */
  only(allowed: readonly string[]): this {
    for (const k of Object.keys(this.object())) {
      if (!allowed.includes(k)) {
        this.at(k).fail(`is not a known field (known: ${allowed.join(', ')})`);
      }
    }
    return this;
  }

  /** The items of this array. */
  items(): Fields[] {
    if (!Array.isArray(this.value)) {
      this.fail('must be a list');
    }
    return this.value.map((v, i) => new Fields(this.code, `${this.path}[${i}]`, v));
  }

  /** A non-empty string, optionally matching `re`. */
  str(re?: RegExp, hint?: string): string {
    if (typeof this.value !== 'string' || this.value === '') {
      this.fail('must be a non-empty string');
    }
    if (re !== undefined && !re.test(this.value)) {
      this.fail(`must be ${hint ?? `like ${String(re)}`}, not "${this.value}"`);
    }
    return this.value;
  }

  /** An integer within bounds. */
  int(min: number, max = Number.MAX_SAFE_INTEGER): number {
    const v = this.value;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      this.fail(`must be an integer from ${min} to ${max}`);
    }
    return v;
  }

  /** A number within bounds. */
  num(min: number, max = Infinity): number {
    const v = this.value;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) {
      this.fail(
        max === Infinity ? `must be a number >= ${min}` : `must be a number from ${min} to ${max}`,
      );
    }
    return v;
  }

  /** A boolean. */
  bool(): boolean {
    if (typeof this.value !== 'boolean') {
      this.fail('must be true or false');
    }
    return this.value;
  }

  /** One of `allowed`. */
  oneOf<T extends string>(allowed: readonly T[]): T {
    const v = this.str();
    if (!(allowed as readonly string[]).includes(v)) {
      this.fail(`must be one of ${allowed.join(', ')}, not "${v}"`);
    }
    return v as T;
  }

  /** `read(this)` when present, else `fallback`. */
  opt<T, F = undefined>(read: (f: Fields) => T, fallback?: F): T | F {
    return this.absent ? (fallback as F) : read(this);
  }
}

/**
 * Longest RPO, in hours (a leap year): longer is no recovery point objective, and the database
 * keeps it in seconds as a 32-bit integer (which overflowed at ~68 years as a 500).
 */
export const MAX_RPO_HOURS = 8784;

/**
 * Longest period or timeout in the configuration, in seconds (a week): Node's timers take at most
 * 2^31-1 ms (~24.8 days) and fire at once beyond it, so a larger value turned a period into a loop.
 */
export const MAX_PERIOD_SEC = 7 * 24 * 3600;

/** Names of hosts, policies and repositories: safe in queue names, ids and paths. */
export const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

/** `host:port` of an agent. */
export const ADDRESS_RE = /^[^\s:/]+(:\d{1,5})$|^\[[0-9a-fA-F:]+\]:\d{1,5}$/;
