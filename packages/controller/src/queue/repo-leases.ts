/**
 * Per-repository limit: a counting semaphore in Redis. Each holder is a member of a sorted set
 * scored by its lease expiry; expired leases (a replica that died) drop out by themselves.
 * Scripts use Redis' own clock so replicas with skewed clocks agree.
 */
import type { Redis } from 'ioredis';

const ACQUIRE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
  return 1
end
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]) * 2)
  return 1
end
return 0`;

const RENEW = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local r = redis.call('ZADD', KEYS[1], 'XX', 'CH', now + tonumber(ARGV[2]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) * 2)
return r`;

/** Leases of repository slots. */
export class RepoLeases {
  /**
   * @param redis a shared, non-blocking connection
   * @param prefix key prefix (the queue prefix)
   * @param leaseMs lease lifetime; holders renew at a third of it
   */
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly leaseMs: number,
  ) {}

  private key(repository: string): string {
    return `${this.prefix}:vv:repo-slots:${repository}`;
  }

  /** Takes a slot for `holder` when fewer than `limit` are held; idempotent per holder. */
  async acquire(repository: string, holder: string, limit: number): Promise<boolean> {
    const r = await this.redis.eval(ACQUIRE, 1, this.key(repository), holder, limit, this.leaseMs);
    return r === 1;
  }

  /** Extends a held slot; false when it had expired. */
  async renew(repository: string, holder: string): Promise<boolean> {
    const r = await this.redis.eval(RENEW, 1, this.key(repository), holder, this.leaseMs);
    return r === 0 ? (await this.redis.zscore(this.key(repository), holder)) !== null : true;
  }

  /** Gives a slot back. */
  async release(repository: string, holder: string): Promise<void> {
    await this.redis.zrem(this.key(repository), holder);
  }

  /** Slots held now (tests, metrics). */
  async held(repository: string): Promise<number> {
    return this.redis.zcount(this.key(repository), Date.now() - 1000, '+inf');
  }

  /**
   * Holds a slot while `work` runs, renewing it; returns null without running `work` when no slot
   * is free.
   */
  async withSlot<T>(
    repository: string,
    holder: string,
    limit: number,
    work: () => Promise<T>,
  ): Promise<{ value: T } | null> {
    if (!(await this.acquire(repository, holder, limit))) {
      return null;
    }
    const timer = setInterval(() => {
      this.renew(repository, holder).catch(() => undefined);
    }, this.leaseMs / 3);
    try {
      return { value: await work() };
    } finally {
      clearInterval(timer);
      await this.release(repository, holder).catch(() => undefined);
    }
  }
}
