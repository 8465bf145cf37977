import type { RedisConnection } from "./connection";
import type { KeySpace } from "./keys";
import { LuaScript } from "./lua-script";
import { type Call, sendEach } from "./send-each";
import { APPEND_SCRIPT, taskTagOf } from "./task-event-notices";
import { type TaskEvent, type TaskEventEntry, parseEntries } from "./task-events";

export interface TaskEventLogOptions {
  /** Entries a stream keeps (approximately: Redis trims whole nodes); default 20,000. */
  maxLen?: number;
  /** A stream expires this long after it was created, refreshed or ended; default one hour. */
  ttlSeconds?: number;
  /** Past this many bytes of events, an append's message names only ids and readers read the stream; default 16 KiB. */
  maxNoticeBytes?: number;
}

export interface AppendOptions {
  /** Restart the stream's expiry (checkpoints of a long task). A final event always does. */
  refreshTtl?: boolean;
}

/** One task's events of an `appendMany`. */
export interface TaskEventAppend extends AppendOptions {
  taskId: string;
  events: readonly TaskEvent[];
  /**
   * With a final event: the finished row as JSON (a completion's), published on the final channel with
   * it so waiters answer without reading the row (not stored in the stream); left out past the notice
   * size limit (waiters then read the row).
   */
  finishedTask?: string;
}

type FinalEvent = Extract<TaskEvent, { type: "final" }>;

const TASKS_PER_PIPELINE = 1_000;
/** The append script (task-event-notices.ts): one call per task, EVALSHA (lua-script.ts). */
const APPEND = new LuaScript<(string | null)[]>(APPEND_SCRIPT, 1);

/**
 * A task's event stream: a Redis Stream per task, bounded (MAXLEN) and expiring, so abandoned streams
 * cost nothing after a while. Each append is one script call (task-event-notices.ts) that adds the
 * entries and publishes them, with their ids and the id of the entry before them, on the task's notify
 * channel, so live readers (TaskEventHub) are woken with the data and read the stream only to repair a
 * gap. A final event is also published on the task's final channel, for waiters that want nothing else.
 * The script fences the stream: nothing after the task's final event but a cancelled attempt's
 * `output_kept`, and no event of an attempt older than the newest it holds (a fenced-off worker's late
 * writes); a refused event's id comes back null.
 *
 * Cost: `append` is one command and one round trip per call, whatever the number of events; `appendMany`
 * one round trip per 1,000 tasks. Redis runs per task XREVRANGE COUNT 1, one XADD per event and one
 * PUBLISH (EXPIRE only when the stream is new, refreshed, ended, or once per twelfth of its TTL; one
 * more PUBLISH for a final event); the fence reads what that XREVRANGE returns, and each entry holds one
 * more short field (`a`). A final event must be appended after the task's row holds its final
 * status: waiters check the row once subscribed, then trust the message.
 */
export class TaskEventLog {
  private readonly maxLen: number;
  private readonly ttlSeconds: number;
  private readonly maxNoticeBytes: number;

  constructor(
    private readonly redis: RedisConnection,
    private readonly keys: KeySpace,
    options: TaskEventLogOptions = {},
  ) {
    this.maxLen = options.maxLen ?? 20_000;
    this.ttlSeconds = options.ttlSeconds ?? 3_600;
    this.maxNoticeBytes = options.maxNoticeBytes ?? 16_384;
  }

  /** Appends `events` in order in one round trip and wakes the task's readers once; answers each event's id, null where the stream refused it. */
  async append(taskId: string, events: readonly TaskEvent[], options: AppendOptions = {}): Promise<(string | null)[]> {
    if (events.length === 0) return [];
    return APPEND.run(this.redis, ...this.argumentsOf({ taskId, events, ...options }));
  }

  /**
   * Appends for many tasks, one round trip per 1,000 tasks; answers each task's entry ids (none for a
   * task with no events), null for each event its stream refused (the fence). One task's failure does not stop the others: every other task is written,
   * then an AggregateError names the tasks that were not (one error each, naming its task).
   */
  async appendMany(items: readonly TaskEventAppend[]): Promise<(string | null)[][]> {
    const ids: (string | null)[][] = items.map(() => []);
    const errors: unknown[] = [];
    const failed: string[] = [];
    for (let start = 0; start < items.length; start += TASKS_PER_PIPELINE) {
      const calls: Call[] = [];
      const sent: number[] = [];
      for (let index = start; index < Math.min(items.length, start + TASKS_PER_PIPELINE); index++) {
        const item = items[index]!;
        if (item.events.length === 0) continue;
        calls.push([APPEND, ...this.argumentsOf(item)]);
        sent.push(index);
      }
      if (sent.length === 0) continue;
      // One pipeline on one Redis; on a cluster (tasks' streams in many slots) one write per master.
      const results = await sendEach(this.redis, calls);
      sent.forEach((index, position) => {
        const [error, reply] = results[position] ?? [new Error("no reply")];
        if (error) {
          const { taskId } = items[index]!;
          errors.push(new Error(`could not append the events of task ${taskId}: ${error.message}`, { cause: error }));
          failed.push(taskId);
        } else ids[index] = reply as (string | null)[];
      });
    }
    if (errors.length > 0) throw new AggregateError(errors, `could not append the events of ${failed.length} task(s): ${failed.slice(0, 10).join(", ")}`);
    return ids;
  }

  /** KEYS and ARGV of the append script (see task-event-notices.ts). */
  private argumentsOf(item: TaskEventAppend): (string | number)[] {
    const json = item.events.map((event) => JSON.stringify(event));
    let bytes = 0;
    for (const text of json) bytes += Buffer.byteLength(text);
    const final = item.events.find((event): event is FinalEvent => event.type === "final");
    const finished = final && item.finishedTask !== undefined && Buffer.byteLength(item.finishedTask) <= this.maxNoticeBytes ? item.finishedTask : "";
    return [
      this.keys.taskEvents(item.taskId),
      this.keys.taskNotify(item.taskId),
      this.keys.taskFinal(item.taskId),
      this.maxLen,
      this.ttlSeconds,
      item.refreshTtl ? 1 : 0,
      bytes <= this.maxNoticeBytes ? 1 : 0,
      final?.status ?? "",
      finished,
      ...item.events.flatMap((event, index) => [taskTagOf(event), json[index]!]),
    ];
  }

  /** Events after `afterId` (exclusive; "0" for all), oldest first. */
  async readAfter(taskId: string, afterId: string, count = 1_000): Promise<TaskEventEntry[]> {
    const start = afterId === "0" ? "-" : `(${afterId}`;
    const raw = (await this.redis.xrange(this.keys.taskEvents(taskId), start, "+", "COUNT", count)) as [string, string[]][];
    return parseEntries(raw);
  }

  /** Deletes a task's stream now, rather than at its expiry (a deleted response's text must not be replayed). */
  async discard(taskId: string): Promise<void> {
    await this.redis.del(this.keys.taskEvents(taskId));
  }

  /** The id of the stream's last entry, or null when it has none (never written, or expired). */
  async lastId(taskId: string): Promise<string | null> {
    const raw = (await this.redis.xrevrange(this.keys.taskEvents(taskId), "+", "-", "COUNT", 1)) as [string, string[]][];
    return raw[0]?.[0] ?? null;
  }
}
