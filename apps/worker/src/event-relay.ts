import type { Logger } from "@llmq/core";
import type { TaskEvent, TaskEventLog } from "@llmq/queue";

/**
 * Sends one task's events to its Redis Stream in order. Events pushed in the same tick go out in one
 * round trip (setImmediate), so a fast stream costs a few writes per batch rather than one per token,
 * and the first token is not delayed.
 */
export class EventRelay {
  private buffer: TaskEvent[] = [];
  private scheduled = false;
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly log: TaskEventLog,
    private readonly taskId: string,
    private readonly logger: Logger,
  ) {}

  push(event: TaskEvent): void {
    this.buffer.push(event);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.send());
  }

  private send(): void {
    this.scheduled = false;
    const events = this.buffer;
    this.buffer = [];
    if (events.length === 0) return;
    this.chain = this.chain.then(() =>
      this.log.append(this.taskId, events).catch((error: unknown) => {
        // Live subscribers lose these events; Postgres checkpoints still hold the text.
        this.logger.warn({ err: error, taskId: this.taskId }, "could not append task events");
      }),
    );
  }

  /** Resolves once everything pushed so far is written. */
  async flush(): Promise<void> {
    this.send();
    await this.chain;
  }
}
