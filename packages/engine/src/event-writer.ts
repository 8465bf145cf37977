import type { Logger } from "@llmq/core";
import type { TaskEvent, TaskEventLog } from "@llmq/queue";

/** Events of one tick, by task, in the order they were pushed. */
type Pending = Map<string, TaskEvent[]>;

/**
 * Writes task events to their Redis Streams in groups: everything pushed while no write is on its way,
 * for any number of tasks, goes out on the next event-loop turn in one pipeline (one round trip), and
 * everything pushed while one is on its way leaves together as soon as it is back. A process streaming
 * many tasks pays per round trip, not per token, a task's consecutive events share one append, and an
 * idle writer sends the first event after one turn. One write at a time, so a later one never overtakes
 * an earlier one: each task's events keep their order.
 */
export class EventWriter {
  private pending: Pending = new Map();
  private waiters: { resolve: () => void; reject: (error: unknown) => void }[] = [];
  private scheduled = false;
  private writing: Promise<void> | null = null;

  constructor(
    private readonly log: Pick<TaskEventLog, "appendMany">,
    private readonly logger: Logger,
  ) {}

  /**
   * Queues `events` for `taskId`; the promise resolves once they are written (with the rest of their
   * group) and rejects if that write failed. Token events need not be awaited: a failed write is logged.
   */
  push(taskId: string, events: readonly TaskEvent[]): Promise<void> {
    if (events.length === 0) return Promise.resolve();
    const queued = this.pending.get(taskId);
    if (queued) queued.push(...events);
    else this.pending.set(taskId, [...events]);
    const written = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    this.schedule();
    return written;
  }

  /** Queues events nobody waits for (tokens): a failed write costs live readers those events, never the task. */
  pushQuietly(taskId: string, events: readonly TaskEvent[]): void {
    this.push(taskId, events).catch((error: unknown) => this.logger.warn({ err: error, taskId }, "could not append task events"));
  }

  /** Resolves once everything pushed so far is written (or failed). */
  async flush(): Promise<void> {
    while (this.writing || this.pending.size > 0) {
      if (!this.writing) this.write();
      await this.writing?.catch(() => undefined);
    }
  }

  private schedule(): void {
    if (this.scheduled || this.writing) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      if (!this.writing) this.write();
    });
  }

  private write(): void {
    const pending = this.pending;
    const waiters = this.waiters;
    this.pending = new Map();
    this.waiters = [];
    if (pending.size === 0) return;
    const items = [...pending].map(([taskId, events]) => ({ taskId, events }));
    this.writing = this.log.appendMany(items).then(
      () => {
        for (const waiter of waiters) waiter.resolve();
      },
      (error: unknown) => {
        for (const waiter of waiters) waiter.reject(error);
      },
    );
    void this.writing.finally(() => {
      this.writing = null;
      if (this.pending.size > 0) this.schedule();
    });
  }
}
