/**
 * Runs async tasks from an iterator with at most `limit` in flight; the first failure stops
 * taking new tasks and is rethrown once the running ones settled (so nothing outlives the call).
 * An async iterator's own failure counts as a task's; an iterator left unfinished is closed.
 */
export async function runPool<T>(
  items: Iterable<T> | AsyncIterable<T>,
  limit: number,
  task: (item: T) => Promise<void>,
): Promise<void> {
  const it: Iterator<T> | AsyncIterator<T> =
    Symbol.asyncIterator in items ? items[Symbol.asyncIterator]() : items[Symbol.iterator]();
  let failure: { error: unknown } | null = null;
  let done = false;
  const worker = async (): Promise<void> => {
    while (failure === null && !done) {
      let n: IteratorResult<T>;
      try {
        n = await it.next();
      } catch (e) {
        failure ??= { error: e };
        return;
      }
      if (n.done === true) {
        done = true;
        return;
      }
      try {
        await task(n.value);
      } catch (e) {
        failure ??= { error: e };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, limit) }, worker));
  if (failure !== null) {
    if (!done) {
      await Promise.resolve(it.return?.()).catch(() => undefined);
    }
    throw (failure as { error: unknown }).error;
  }
}
