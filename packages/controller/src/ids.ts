/** ULIDs for run ids, snapshot ids and checkpoint names, from the clock and the system's randomness. */
import { randomBytes } from 'node:crypto';

import { formatUlid } from '@virtvault/core';

/** A new ULID for the given time. */
export function ulid(now: number): string {
  return formatUlid(now, randomBytes(10));
}
