/**
 * `TokenStore`: bearer tokens of the controller's HTTP API, stored hashed (DESIGN.md section 8).
 *
 * A token reads `vvt_<id>_<secret>`: the id finds the row, the secret (32 random bytes,
 * base64url) is checked against its SHA-256 in constant time. The plain token exists only in the
 * answer to `create`.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

import { TOKEN_ROLES, type TokenRole } from '@virtvault/core';
import type postgres from 'postgres';
import { type Sql } from 'postgres';

import { LineageError } from './errors.js';
import { openMigrated } from './pg-open.js';
import { loadSqlDir } from './sql-dir.js';

// Defined in core (the CLI names them without loading the lineage); kept exported from here.
export { TOKEN_ROLES, type TokenRole };

/** A token as listed (never with its secret). */
export interface TokenInfo {
  /** Public id (the part after `vvt_`). */
  id: string;
  /** Unique name, e.g. `ops-dashboard`. */
  name: string;
  /** Role. */
  role: TokenRole;
  /** Epoch ms. */
  createdAt: number;
  /** Epoch ms, or null for no expiry. */
  expiresAt: number | null;
  /** Epoch ms of the last use (minute precision), or null. */
  lastUsedAt: number | null;
  /** Epoch ms of revocation, or null. */
  revokedAt: number | null;
}

const TOKEN_QUERIES = [
  'insert-token',
  'select-token',
  'select-tokens',
  'touch-token',
  'revoke-token',
] as const;
type TokenQuery = (typeof TOKEN_QUERIES)[number];

interface TokenRow {
  id: string;
  name: string;
  role: TokenRole;
  secret_sha256: string;
  created_at: Date;
  expires_at: Date | null;
  last_used_at: Date | null;
  revoked_at: Date | null;
}

const TOKEN_RE = /^vvt_([a-z0-9]{12})_([A-Za-z0-9_-]{43})$/;
const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9._-]{0,62}$/;

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

function toInfo(r: TokenRow): TokenInfo {
  const ms = (d: Date | null) => (d === null ? null : d.getTime());
  return {
    id: r.id,
    name: r.name,
    role: r.role,
    createdAt: r.created_at.getTime(),
    expiresAt: ms(r.expires_at),
    lastUsedAt: ms(r.last_used_at),
    revokedAt: ms(r.revoked_at),
  };
}

/** Whether `role` may do what `needed` may. */
export function roleAllows(role: TokenRole, needed: TokenRole): boolean {
  return TOKEN_ROLES.indexOf(role) >= TOKEN_ROLES.indexOf(needed);
}

/** Bearer tokens on Postgres. Open with `connect`, finish with `close`. */
export class TokenStore {
  #closed = false;

  private constructor(
    private readonly sql: Sql,
    private readonly q: Readonly<Record<TokenQuery, string>>,
  ) {}

  /** Connects and applies pending migrations. */
  static async connect(options: { url: string; max?: number }): Promise<TokenStore> {
    const q = await loadSqlDir('tokens', TOKEN_QUERIES);
    const sql = await openMigrated(options.url, options.max ?? 2, 'token');
    return new TokenStore(sql, q);
  }

  /** Closes the pool; idempotent. */
  async close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      await this.sql.end({ timeout: 5 });
    }
  }

  private run<T extends object>(name: TokenQuery, params: unknown[]): Promise<T[]> {
    if (this.#closed) {
      return Promise.reject(new LineageError('CLOSED', 'token store is closed'));
    }
    return this.sql.unsafe<T[]>(this.q[name], params as postgres.ParameterOrJSON<never>[]);
  }

  /**
   * Creates a token; returns it in plain text (shown once) with its info. Throws `TOKEN_INVALID`
   * for a bad name or role and `TOKEN_EXISTS` when the name is taken.
   */
  async create(input: {
    name: string;
    role: TokenRole;
    now: number;
    expiresAt?: number | null;
  }): Promise<{ token: string; info: TokenInfo }> {
    if (!NAME_RE.test(input.name) || !TOKEN_ROLES.includes(input.role)) {
      throw new LineageError(
        'TOKEN_INVALID',
        `bad token name or role: ${input.name}/${input.role}`,
      );
    }
    const id = randomBytes(8).toString('hex').slice(0, 12);
    const secret = randomBytes(32).toString('base64url');
    const expires = input.expiresAt == null ? null : new Date(input.expiresAt).toISOString();
    try {
      await this.run('insert-token', [
        id,
        input.name,
        input.role,
        sha256(secret),
        new Date(input.now).toISOString(),
        expires,
      ]);
    } catch (e) {
      if ((e as { code?: unknown }).code === '23505') {
        throw new LineageError('TOKEN_EXISTS', `a token named ${input.name} exists`, { cause: e });
      }
      throw new LineageError('QUERY_FAILED', `cannot create token: ${String(e)}`, { cause: e });
    }
    const [row] = await this.run<TokenRow>('select-token', [id]);
    if (row === undefined) {
      throw new LineageError('QUERY_FAILED', `token ${id} vanished after insert`);
    }
    return { token: `vvt_${id}_${secret}`, info: toInfo(row) };
  }

  /** The token's info when it is well-formed, known, unrevoked and unexpired; else null. */
  async verify(token: string, now: number): Promise<TokenInfo | null> {
    const m = TOKEN_RE.exec(token);
    if (m === null || m[1] === undefined || m[2] === undefined) {
      return null;
    }
    const [row] = await this.run<TokenRow>('select-token', [m[1]]);
    if (row === undefined || row.revoked_at !== null) {
      return null;
    }
    if (row.expires_at !== null && row.expires_at.getTime() <= now) {
      return null;
    }
    const want = Buffer.from(row.secret_sha256, 'hex');
    const got = Buffer.from(sha256(m[2]), 'hex');
    if (want.length !== got.length || !timingSafeEqual(want, got)) {
      return null;
    }
    await this.run('touch-token', [row.id, new Date(now).toISOString()]);
    return toInfo(row);
  }

  /** Every token, revoked ones included. */
  async list(): Promise<TokenInfo[]> {
    return (await this.run<TokenRow>('select-tokens', [])).map(toInfo);
  }

  /** Revokes by id or name; returns whether a live token was revoked. */
  async revoke(idOrName: string, now: number): Promise<boolean> {
    const rows = await this.run<{ id: string }>('revoke-token', [
      idOrName,
      new Date(now).toISOString(),
    ]);
    return rows.length > 0;
  }
}
