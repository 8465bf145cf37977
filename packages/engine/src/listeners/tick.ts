/**
 * Collects items during one event-loop turn and hands them to `flush` together on the next one; every
 * caller's promise settles with that flush. The listeners use it so a tick's changes cost one publish.
 */
export function perTick<T>(flush: (items: T[]) => Promise<void>): (item: T) => Promise<void> {
  let items: T[] = [];
  let done: Promise<void> | null = null;
  return (item) => {
    items.push(item);
    done ??= new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
      const batch = items;
      items = [];
      done = null;
      return flush(batch);
    });
    return done;
  };
}
