/**
 * The upstream requests one worker process may have open at once for a model: its `concurrency`,
 * shared by every choice of every task (a task with `n` choices makes `n` requests). Requests waiting
 * for a slot are served round robin between tasks, so a task of many choices does not keep the model
 * to itself until it is done. A slot is held only while its request runs, never while waiting for
 * another one, so tasks cannot deadlock on each other.
 */
export class UpstreamSlots {
  private free: number;
  /** Waiting grants per task, in arrival order; the map's order is the round. */
  private readonly waiting = new Map<string, Array<() => void>>();

  constructor(readonly size: number) {
    this.free = size;
  }

  /** Waits for a slot for one request of task `owner`; resolves to its release (safe to call twice). Rejects if `signal` aborts first. */
  async acquire(owner: string, signal: AbortSignal): Promise<() => void> {
    signal.throwIfAborted();
    if (this.free > 0 && this.waiting.size === 0) {
      this.free--;
      return this.releaser();
    }
    await new Promise<void>((resolve, reject) => {
      const queue = this.waiting.get(owner) ?? [];
      const grant = () => {
        signal.removeEventListener("abort", onAbort);
        resolve();
      };
      const onAbort = () => {
        const index = queue.indexOf(grant);
        if (index !== -1) queue.splice(index, 1);
        if (queue.length === 0 && this.waiting.get(owner) === queue) this.waiting.delete(owner);
        reject(signal.reason);
      };
      queue.push(grant);
      this.waiting.set(owner, queue);
      signal.addEventListener("abort", onAbort, { once: true });
    });
    return this.releaser();
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.free++;
      this.dispatch();
    };
  }

  /** Hands free slots to the next task in the round, one request each, moving it to the back of the round. */
  private dispatch(): void {
    while (this.free > 0) {
      const next = this.waiting.entries().next();
      if (next.done) return;
      const [owner, queue] = next.value;
      this.waiting.delete(owner);
      const grant = queue.shift();
      if (queue.length > 0) this.waiting.set(owner, queue);
      if (!grant) continue;
      this.free--;
      grant();
    }
  }
}
