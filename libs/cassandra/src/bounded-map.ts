/**
 * Runs `task` on every item with at most `limit` tasks in flight and returns the results in
 * item order.
 *
 * After the first failure no further task starts, and the returned promise rejects with that
 * failure once the running tasks have settled, so no request is left running unobserved.
 */
export async function mapBounded<T, R>(
  items: readonly T[],
  limit: number,
  task: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let failure: { err: unknown } | null = null;

  const worker = async (): Promise<void> => {
    while (failure === null && next < items.length) {
      const index = next;
      next += 1;
      try {
        results[index] = await task(items[index]!, index);
      } catch (err) {
        failure ??= { err };
      }
    }
  };

  const workers = Array.from({ length: Math.min(limit, items.length) }, worker);
  await Promise.all(workers);
  if (failure !== null) throw (failure as { err: unknown }).err;
  return results;
}
