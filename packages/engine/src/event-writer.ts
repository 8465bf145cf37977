import type { Logger } from "@llmq/core";
import type { TaskEvent, TaskEventLog } from "@llmq/queue";

/** Events of one tick, by task, in the order they were pushed. */
type Pending = Map<string, TaskEvent[]>;

/**
 * Writes task events to their Redis Streams a tick at a time: everything pushed during one event-loop
 * turn, for any number of tasks, goes out in one pipeline (one round trip), so a process streaming many
 * tasks pays per tick, not per token, and the first event is not delayed (the write leaves on
 * setImmediate). Writes are chained, so a later tick never overtakes an earlier one: each task's events
 * keep their order.
 */
export class EventWriter {
  private pending: Pending = new Map();
  private waiters: { resolve: () => void; reject: (error: unknown) => void }[] = [];
  private scheduled = false;
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly log: Pick<TaskEventLog, "appendMany">,
    private readonly logger: Logger,
  ) {}

  /**
   * Queues `events` for `taskId`; the promise resolves once they are written (with the rest of the tick)
   * and rejects if that write failed. Token events need not be awaited: a failed write is logged.
   */
  push(taskId: string, events: readonly TaskEvent[]): Promise<void> {
    if (events.length === 0) return Promise.resolve();
    const queued = this.pending.get(taskId);
    if (queued) queued.push(...events);
    else this.pending.set(taskId, [...events]);
    const written = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.write());
    }
    return written;
  }

  /** Queues events nobody waits for (tokens): a failed write costs live readers those events, never the task. */
  pushQuietly(taskId: string, events: readonly TaskEvent[]): void {
    this.push(taskId, events).catch((error: unknown) => this.logger.warn({ err: error, taskId }, "could not append task events"));
  }

  /** Resolves once everything pushed so far is written (or failed). */
  async flush(): Promise<void> {
    if (this.scheduled) this.write();
    await this.chain.catch(() => undefined);
  }

  private write(): void {
    this.scheduled = false;
    const pending = this.pending;
    const waiters = this.waiters;
    this.pending = new Map();
    this.waiters = [];
    if (pending.size === 0) return;
    const items = [...pending].map(([taskId, events]) => ({ taskId, events }));
    this.chain = this.chain
      .catch(() => undefined)
      .then(() => this.log.appendMany(items))
      .then(
        () => {
          for (const waiter of waiters) waiter.resolve();
        },
        (error: unknown) => {
          for (const waiter of waiters) waiter.reject(error);
          throw error;
        },
      );
  }
}
