/**
 * Runs async tasks from an iterator with at most `limit` in flight; the first failure stops
 * taking new tasks and is rethrown once the running ones settled (so nothing outlives the call).
 */
export async function runPool<T>(
  items: Iterable<T>,
  limit: number,
  task: (item: T) => Promise<void>,
): Promise<void> {
  const it = items[Symbol.iterator]();
  let failure: { error: unknown } | null = null;
  const worker = async (): Promise<void> => {
    for (let n = it.next(); !n.done && failure === null; n = it.next()) {
      try {
        await task(n.value);
      } catch (e) {
        failure ??= { error: e };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, limit) }, worker));
  if (failure !== null) {
    throw (failure as { error: unknown }).error;
  }
}
