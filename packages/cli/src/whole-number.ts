/**
 * Counts given on the command line. `Number()` alone takes `''` (an unset shell variable: `--keep-
 * daily "$DAYS"`) and `' '` for 0 and `0x7` or `1e3` for numbers, so a cron line with a typo would
 * prune to one snapshot or make every backup a full instead of failing.
 */
import { CliError } from './output.js';

/**
 * `v` (the value of option `--flag`) as a whole number >= `min`, or undefined when the option was
 * not given. Anything but plain decimal digits is `USAGE`.
 */
export function wholeNumber(v: string | undefined, flag: string, min: number): number | undefined {
  if (v === undefined) {
    return undefined;
  }
  const n = /^[0-9]+$/.test(v) ? Number(v) : NaN;
  if (!Number.isSafeInteger(n) || n < min) {
    throw new CliError(
      'USAGE',
      `--${flag} needs a whole number >= ${min}, not ${JSON.stringify(v)}`,
    );
  }
  return n;
}

/**
 * `v` (the value of option `--flag`) as a positive decimal number (`12`, `0.5`), or undefined when
 * the option was not given. `Number()` alone took `0x10` for 16, `1e3` for 1000 and `Infinity`.
 */
export function positiveDecimal(v: string | undefined, flag: string): number | undefined {
  if (v === undefined) {
    return undefined;
  }
  const n = /^[0-9]+(\.[0-9]+)?$/.test(v) ? Number(v) : NaN;
  if (!Number.isFinite(n) || n <= 0) {
    throw new CliError('USAGE', `--${flag} needs a positive number, not ${JSON.stringify(v)}`);
  }
  return n;
}
