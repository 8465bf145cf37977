import type { RedisConnection } from "./connection";
import type { KeySpace } from "./keys";
import type { TaskEventLog } from "./task-event-log";
import type { TaskEventEntry } from "./task-events";

/** Catches notifications lost while the subscriber connection was reconnecting. */
const SAFETY_POLL_MS = 1_000;

interface Subscription {
  taskId: string;
  lastId: string;
  deliver: (entries: TaskEventEntry[]) => void;
  onError: (error: unknown) => void;
  reading: boolean;
  again: boolean;
  closed: boolean;
}

/**
 * Fans a task's event stream out to any number of local listeners (SSE clients, waiting requests)
 * over one subscriber connection per process: PUBLISH wakes, XRANGE reads, so a late or reconnecting
 * listener replays from any entry id and misses nothing.
 */
export class TaskEventHub {
  private readonly byTask = new Map<string, Set<Subscription>>();
  private readonly poller: NodeJS.Timeout;

  constructor(
    private readonly subscriber: RedisConnection,
    private readonly log: TaskEventLog,
    private readonly keys: KeySpace,
  ) {
    subscriber.on("message", (channel: string) => {
      const taskId = this.taskIdOf(channel);
      for (const sub of this.byTask.get(taskId) ?? []) void this.pump(sub);
    });
    this.poller = setInterval(() => {
      for (const subs of this.byTask.values()) for (const sub of subs) void this.pump(sub);
    }, SAFETY_POLL_MS);
    this.poller.unref();
  }

  private taskIdOf(channel: string): string {
    return channel.slice(this.keys.taskNotify("").length - ":notify".length, -":notify".length);
  }

  /** Delivers every event after `afterId` ("0" for all), then each new one, until unsubscribed. */
  subscribe(taskId: string, afterId: string, deliver: (entries: TaskEventEntry[]) => void, onError: (error: unknown) => void): () => void {
    const sub: Subscription = { taskId, lastId: afterId, deliver, onError, reading: false, again: false, closed: false };
    let subs = this.byTask.get(taskId);
    if (!subs) {
      subs = new Set();
      this.byTask.set(taskId, subs);
      this.subscriber.subscribe(this.keys.taskNotify(taskId)).catch(onError);
    }
    subs.add(sub);
    void this.pump(sub);
    return () => this.unsubscribe(sub);
  }

  private unsubscribe(sub: Subscription): void {
    sub.closed = true;
    const subs = this.byTask.get(sub.taskId);
    if (!subs?.delete(sub) || subs.size > 0) return;
    this.byTask.delete(sub.taskId);
    this.subscriber.unsubscribe(this.keys.taskNotify(sub.taskId)).catch(() => undefined);
  }

  /** Reads everything new for one listener; never two reads at once for the same listener. */
  private async pump(sub: Subscription): Promise<void> {
    if (sub.reading) {
      sub.again = true;
      return;
    }
    sub.reading = true;
    try {
      do {
        sub.again = false;
        for (;;) {
          const entries = await this.log.readAfter(sub.taskId, sub.lastId);
          if (sub.closed || entries.length === 0) break;
          sub.lastId = entries[entries.length - 1]!.id;
          sub.deliver(entries);
        }
      } while (sub.again && !sub.closed);
    } catch (error) {
      if (!sub.closed) sub.onError(error);
    } finally {
      sub.reading = false;
    }
  }

  /** Number of live listeners (for metrics and tests). */
  listenerCount(): number {
    let n = 0;
    for (const subs of this.byTask.values()) n += subs.size;
    return n;
  }

  close(): void {
    clearInterval(this.poller);
    for (const subs of this.byTask.values()) for (const sub of subs) sub.closed = true;
    this.byTask.clear();
  }
}
