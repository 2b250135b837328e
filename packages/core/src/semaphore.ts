/** A counting semaphore: bounds how many holders (jobs, buffers) are in flight at once. */
export class Semaphore {
  #free: number;
  readonly #waiters: (() => void)[] = [];

  /** @param permits number of concurrent holders */
  constructor(permits: number) {
    this.#free = permits;
  }

  /** Permits free right now (0 while holders or waiters use them all). */
  get available(): number {
    return this.#free;
  }

  /** Waits for a permit. */
  async acquire(): Promise<void> {
    if (this.#free > 0) {
      this.#free--;
      return;
    }
    await new Promise<void>((resolve) => this.#waiters.push(resolve));
  }

  /** Returns a permit, waking one waiter. */
  release(): void {
    const next = this.#waiters.shift();
    if (next !== undefined) {
      next();
    } else {
      this.#free++;
    }
  }

  /** Runs `fn` while holding a permit. */
  async with<T>(fn: () => Promise<T>): Promise<T> {
    await this.acquire();
    try {
      return await fn();
    } finally {
      this.release();
    }
  }
}
