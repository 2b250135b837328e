/**
 * The options of a new API token, checked before any work by `controller token create` (straight
 * against the database) and `fleet tokens create` (through the API) alike.
 */
import { TOKEN_ROLES, type TokenRole } from '@virtvault/core';

import { CliError } from './output.js';
import { positiveDecimal } from './whole-number.js';

/** A checked `--role` and `--expires-in-days`. */
export interface TokenOptions {
  /** The role. */
  role: TokenRole;
  /** Days until it expires (a fraction is a shorter expiry); undefined: never. */
  expiresInDays?: number;
}

/** Checks `--role` and `--expires-in-days` (a positive number); throws `USAGE`. */
export function tokenOptions(role: string, expiresInDays: string | undefined): TokenOptions {
  if (!(TOKEN_ROLES as readonly string[]).includes(role)) {
    throw new CliError('USAGE', `--role must be one of ${TOKEN_ROLES.join(', ')}`);
  }
  const days = positiveDecimal(expiresInDays, 'expires-in-days');
  return days === undefined
    ? { role: role as TokenRole }
    : { role: role as TokenRole, expiresInDays: days };
}
