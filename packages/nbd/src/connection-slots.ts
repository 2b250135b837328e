/**
 * The in-flight limit of an NbdClient: each request takes a slot on the least
 * loaded live connection, and callers beyond `maxInFlight` per connection
 * queue in FIFO order. A freed slot wakes one waiter; a failed connection or
 * close() wakes them all, so no queued caller can wait forever.
 */
import type { Connection } from './connection.js';
import { NbdError } from './errors.js';

/** Request slots over a fixed set of connections. */
export class ConnectionSlots {
  private readonly waiters: (() => void)[] = [];
  /** Requests reserved per connection, counted before the caller's await gap. */
  private readonly load: Map<Connection, number>;
  private closed = false;

  /** Pools `conns`, at most `maxInFlight` requests each. */
  constructor(
    private readonly conns: readonly Connection[],
    private readonly maxInFlight: number,
  ) {
    this.load = new Map(conns.map((c) => [c, 0]));
    // A failure changes every waiter's prospects: all must look again (and maybe give up).
    for (const c of conns) {
      c.onFail(() => this.wakeAll());
    }
  }

  /**
   * Takes a slot on the least loaded live connection, waiting while every one is full. Rejects
   * with NBD_ERR_CLOSED after close(), NBD_ERR_ABORTED when `signal` aborts, or the connection's
   * error once no connection is left. Pair every resolved call with {@link release}.
   */
  async acquire(signal: AbortSignal | undefined): Promise<Connection> {
    let woken = false;
    try {
      for (;;) {
        const conn = this.tryTake(signal);
        if (conn) {
          return conn;
        }
        woken = await this.waitSlot(signal);
      }
    } catch (e) {
      // A wake-up this caller took but cannot use belongs to the next waiter.
      if (woken) {
        this.waiters.shift()?.();
      }
      throw e;
    }
  }

  /** Counts a request on `conn` regardless of the limit (a flush goes to every connection). */
  add(conn: Connection): void {
    this.load.set(conn, this.loadOf(conn) + 1);
  }

  /** Frees a slot of `conn` and wakes the next waiter. */
  release(conn: Connection): void {
    this.load.set(conn, this.loadOf(conn) - 1);
    this.waiters.shift()?.();
  }

  /** Fails every queued and later {@link acquire} with NBD_ERR_CLOSED. Idempotent. */
  close(): void {
    this.closed = true;
    this.wakeAll();
  }

  private loadOf(c: Connection): number {
    return this.load.get(c) ?? 0;
  }

  /** Reserves a slot if one is free; throws when waiting could never succeed. */
  private tryTake(signal: AbortSignal | undefined): Connection | undefined {
    if (this.closed) {
      throw new NbdError('NBD_ERR_CLOSED', 'client closed');
    }
    if (signal?.aborted) {
      throw new NbdError('NBD_ERR_ABORTED', 'aborted', { cause: signal.reason });
    }
    const live = this.conns.filter((c) => !c.error);
    if (live.length === 0) {
      throw this.conns[0]?.error ?? new NbdError('NBD_ERR_CLOSED', 'no connection');
    }
    let best = live[0] as Connection;
    for (const c of live) {
      best = this.loadOf(c) < this.loadOf(best) ? c : best;
    }
    if (this.loadOf(best) >= this.maxInFlight) {
      return undefined;
    }
    // Reserve now: the caller resumes only after other callers ran.
    this.add(best);
    return best;
  }

  private wakeAll(): void {
    for (const wake of this.waiters.splice(0)) {
      wake();
    }
  }

  /**
   * Waits for a wake-up (true) or for `signal` to abort (false). An aborted waiter leaves the
   * queue: wake-ups come one per freed slot, and a dead entry would swallow one a live waiter
   * needs.
   */
  private waitSlot(signal: AbortSignal | undefined): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
      const wake = (): void => {
        signal?.removeEventListener('abort', onAbort);
        resolve(true);
      };
      const onAbort = (): void => {
        const i = this.waiters.indexOf(wake);
        if (i >= 0) {
          this.waiters.splice(i, 1);
        }
        resolve(false);
      };
      this.waiters.push(wake);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}
