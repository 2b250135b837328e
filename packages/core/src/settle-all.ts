/**
 * Waits for every promise to settle, then rejects with the first failure in order, or resolves.
 * Unlike `Promise.all`, nothing is still running when it rejects: for work that writes into a
 * shared buffer, the buffer may be reused the moment this settles.
 */
export async function settleAll(promises: readonly Promise<unknown>[]): Promise<void> {
  const settled = await Promise.allSettled(promises);
  for (const r of settled) {
    if (r.status === 'rejected') {
      throw r.reason;
    }
  }
}
