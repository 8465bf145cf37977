import type { ChainableCommander } from "ioredis";
import type { RedisConnection } from "./connection";
import type { KeySpace } from "./keys";
import { type TaskEvent, type TaskEventEntry, parseEntries } from "./task-events";

/** Bounded (MAXLEN) and expiring, so abandoned streams cost nothing after a while. */
const STREAM_MAX_LEN = 20_000;
const STREAM_TTL_SECONDS = 3_600;
const ENDINGS_PER_PIPELINE = 1_000;

async function run(pipeline: ChainableCommander): Promise<void> {
  const results = await pipeline.exec();
  const failure = results?.find(([error]) => error);
  if (failure?.[0]) throw failure[0];
}

/** Appends and reads a task's event stream; subscribers are woken by a PUBLISH on the task's channel. */
export class TaskEventLog {
  constructor(
    private readonly redis: RedisConnection,
    private readonly keys: KeySpace,
  ) {}

  /** Appends events in one round trip and wakes subscribers once. */
  async append(taskId: string, events: readonly TaskEvent[]): Promise<void> {
    if (events.length === 0) return;
    const pipeline = this.redis.pipeline();
    this.queueAppend(pipeline, taskId, events);
    await run(pipeline);
  }

  /** Appends the events of many tasks, each task's in order: one round trip per 1,000 tasks. */
  async appendMany(items: readonly { taskId: string; events: readonly TaskEvent[] }[]): Promise<void> {
    for (let start = 0; start < items.length; start += ENDINGS_PER_PIPELINE) {
      const pipeline = this.redis.pipeline();
      for (const item of items.slice(start, start + ENDINGS_PER_PIPELINE)) if (item.events.length > 0) this.queueAppend(pipeline, item.taskId, item.events);
      await run(pipeline);
    }
  }

  /** Ends the streams of many tasks closed at once (a batch's queued items cancelled or expired), 1,000 per round trip. */
  async appendEndings(tasks: readonly { id: string; attempts: number }[], status: "CANCELLED" | "EXPIRED"): Promise<void> {
    for (let start = 0; start < tasks.length; start += ENDINGS_PER_PIPELINE) {
      const pipeline = this.redis.pipeline();
      for (const task of tasks.slice(start, start + ENDINGS_PER_PIPELINE)) {
        this.queueAppend(pipeline, task.id, [
          { type: "status", status, attempt: task.attempts },
          { type: "final", status },
        ]);
      }
      await run(pipeline);
    }
  }

  /** Adds the events, the stream's expiry and the subscribers' wake-up to `pipeline`. */
  private queueAppend(pipeline: ChainableCommander, taskId: string, events: readonly TaskEvent[]): void {
    const key = this.keys.taskEvents(taskId);
    for (const event of events) pipeline.xadd(key, "MAXLEN", "~", STREAM_MAX_LEN, "*", "e", JSON.stringify(event));
    pipeline.expire(key, STREAM_TTL_SECONDS);
    pipeline.publish(this.keys.taskNotify(taskId), "1");
  }

  /** Events after `afterId` (exclusive; "0" for all), oldest first. */
  async readAfter(taskId: string, afterId: string, count = 1_000): Promise<TaskEventEntry[]> {
    const start = afterId === "0" ? "-" : `(${afterId}`;
    const raw = (await this.redis.xrange(this.keys.taskEvents(taskId), start, "+", "COUNT", count)) as [string, string[]][];
    return parseEntries(raw);
  }
}
