import type { Logger } from "@llmq/core";
import type { TaskEvent, TaskEventLog } from "@llmq/queue";

/** Events of one tick, by task, in the order they were pushed, with the finished row a final event announces. */
type Pending = Map<string, { events: TaskEvent[]; finishedTask?: string }>;

/** A push waiting for its write: where its events sit among its task's events of that write. */
interface Waiter {
  taskId: string;
  from: number;
  count: number;
  resolve: (written: boolean) => void;
  reject: (error: unknown) => void;
}

/**
 * Writes task events to their Redis Streams in groups (a group commit). An idle writer sends what was
 * pushed as soon as the code that pushed it yields (a microtask: events pushed by one synchronous run,
 * such as a RUNNING event and the tokens held for it, still go together), so a first token is not held
 * for a batching window. A busy one (a write came back during this event-loop turn) sends at the turn's
 * end, and everything pushed while a write is on its way waits for it: for any number of tasks, they
 * leave together in one pipeline (one round trip), so a process streaming many tasks pays per round trip,
 * not per token, and a task's consecutive events share one append. One write at a time, so a later one
 * never overtakes an earlier one: each task's events keep their order. Each push learns whether its
 * events were written or refused by the stream's fence (a fenced-off attempt's late events: TaskEventLog).
 */
export class EventWriter {
  private pending: Pending = new Map();
  private waiters: Waiter[] = [];
  private scheduled = false;
  private writing: Promise<void> | null = null;
  /** A write came back during the current event-loop turn (cleared at the turn's end). */
  private busyTurn = false;

  constructor(
    private readonly log: Pick<TaskEventLog, "appendMany">,
    private readonly logger: Logger,
  ) {}

  /**
   * Queues `events` for `taskId`; the promise resolves once their group is written, to true, or to false
   * when the task's stream refused any of them (the task ended, or a newer attempt is in it: a fenced-off
   * attempt's), and rejects if that write failed. Token events need not be awaited: a failed write is logged.
   */
  push(taskId: string, events: readonly TaskEvent[], options: { finishedTask?: string } = {}): Promise<boolean> {
    if (events.length === 0) return Promise.resolve(true);
    let queued = this.pending.get(taskId);
    if (!queued) this.pending.set(taskId, (queued = { events: [] }));
    const from = queued.events.length;
    queued.events.push(...events);
    // With its final event: the finished row its waiters answer from (TaskEventAppend.finishedTask).
    if (options.finishedTask !== undefined) queued.finishedTask = options.finishedTask;
    const written = new Promise<boolean>((resolve, reject) => this.waiters.push({ taskId, from, count: events.length, resolve, reject }));
    this.schedule();
    return written;
  }

  /**
   * Queues events nobody waits for (tokens): a failed write costs live readers those events, never the
   * task. `onRefused` is called if the stream refused them (the attempt that wrote them was fenced off).
   */
  pushQuietly(taskId: string, events: readonly TaskEvent[], onRefused?: () => void): void {
    this.push(taskId, events).then(
      (written) => {
        if (!written) onRefused?.();
      },
      (error: unknown) => this.logger.warn({ err: error, taskId }, "could not append task events"),
    );
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
    const send = () => {
      this.scheduled = false;
      if (!this.writing) this.write();
    };
    // Busy (a write came back during this turn): at the turn's end, with everything else the turn pushes.
    // Idle: at once, as soon as the code that pushed yields.
    if (this.busyTurn) setImmediate(send);
    else queueMicrotask(send);
  }

  private write(): void {
    const pending = this.pending;
    const waiters = this.waiters;
    this.pending = new Map();
    this.waiters = [];
    if (pending.size === 0) return;
    const items = [...pending].map(([taskId, { events, finishedTask }]) => ({ taskId, events, ...(finishedTask === undefined ? {} : { finishedTask }) }));
    this.writing = this.log.appendMany(items).then(
      (ids) => {
        const idsOf = new Map(items.map((item, index) => [item.taskId, ids[index] ?? []]));
        for (const waiter of waiters) waiter.resolve(idsOf.get(waiter.taskId)!.slice(waiter.from, waiter.from + waiter.count).every((id) => id !== null));
      },
      (error: unknown) => {
        for (const waiter of waiters) waiter.reject(error);
      },
    );
    void this.writing.finally(() => {
      this.writing = null;
      if (!this.busyTurn) {
        this.busyTurn = true;
        setImmediate(() => (this.busyTurn = false));
      }
      if (this.pending.size > 0) this.schedule();
    });
  }
}
