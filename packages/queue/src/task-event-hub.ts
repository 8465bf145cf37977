import { ChannelSubscriptions } from "./channel-subscriptions";
import type { RedisConnection } from "./connection";
import { type FinalWait, FinalWaiters, type WaitForFinalOptions } from "./final-waiters";
import type { KeySpace } from "./keys";
import type { TaskEventLog } from "./task-event-log";
import { type TaskEventNotice, parseNotice } from "./task-event-notices";
import { type TaskEventEntry, compareStreamIds } from "./task-events";

export interface TaskEventHubOptions {
  /** A listener that heard nothing for this long has its stream's tail checked (a lost last message); default 5 s. */
  safetyCheckMs?: number;
  /** A waiter asks again whether its task ended this often (a final that was never announced); default 15 s. */
  waiterRecheckMs?: number;
}

/** Entries per read of the stream. */
const READ_COUNT = 1_000;
/** Messages held for a listener that is reading; past this it drops them and reads once more instead. */
const MAX_HELD_NOTICES = 1_000;

interface TaskChannel {
  taskId: string;
  channel: string;
  listeners: Set<Listener>;
  /** Settles once the channel's SUBSCRIBE is acknowledged. */
  ready: Promise<unknown>;
}

interface Listener {
  task: TaskChannel;
  /** The last entry delivered (or the resume point it was given). */
  lastId: string;
  deliver: (entries: TaskEventEntry[]) => void;
  onError: (error: unknown) => void;
  closed: boolean;
  /** Reading, or not yet subscribed: messages are held in `held` meanwhile. */
  busy: boolean;
  /** Its first read has been delivered (even when it found nothing). */
  started: boolean;
  readNeeded: boolean;
  held: TaskEventNotice[];
  /** When a message or a read last reached it (the safety check looks at the quiet ones). */
  heardAt: number;
}

/**
 * Fans task event streams out to any number of local listeners (SSE clients) and waiters (synchronous
 * requests) over one subscriber connection per process. Each append's message carries its entries
 * and the id of the entry before them (task-event-notices.ts), so a listener is handed the data without a
 * read; it reads the stream (XRANGE) only when it subscribes (replay from the start, or resume after
 * Last-Event-ID), when a message shows a gap (one was lost: pub/sub is at most once), when a message
 * names only ids (large events), after the subscriber reconnects, and when its slow safety check finds
 * the stream's tail past what it delivered. Delivery is in stream order, each entry once.
 */
export class TaskEventHub {
  private readonly byTask = new Map<string, TaskChannel>();
  private readonly byChannel = new Map<string, TaskChannel>();
  private readonly waiters: FinalWaiters;
  private readonly subscriptions: ChannelSubscriptions;
  private readonly safetyCheckMs: number;
  private readonly timer: NodeJS.Timeout;
  private closed = false;

  constructor(
    private readonly subscriber: RedisConnection,
    private readonly log: TaskEventLog,
    private readonly keys: KeySpace,
    options: TaskEventHubOptions = {},
  ) {
    this.safetyCheckMs = options.safetyCheckMs ?? 5_000;
    this.subscriptions = new ChannelSubscriptions(subscriber);
    this.waiters = new FinalWaiters(this.subscriptions, keys, options.waiterRecheckMs ?? 15_000);
    subscriber.on("message", (channel: string, message: string) => {
      const task = this.byChannel.get(channel);
      if (!task) {
        this.waiters.onMessage(channel, message);
        return;
      }
      const notice = parseNotice(message);
      for (const listener of task.listeners) this.hear(listener, notice);
    });
    subscriber.on("ready", () => this.resync());
    this.timer = setInterval(() => this.safetyCheck(), Math.min(this.safetyCheckMs, options.waiterRecheckMs ?? 15_000));
    this.timer.unref();
  }

  /**
   * Delivers every event after `afterId` ("0" for all), then each new one, until unsubscribed. The first
   * read is delivered even when it found nothing (an empty array, once), so the caller knows what the
   * stream held when it started following (a waiting batch item has no stream yet).
   */
  subscribe(taskId: string, afterId: string, deliver: (entries: TaskEventEntry[]) => void, onError: (error: unknown) => void): () => void {
    const task = this.channelOf(taskId);
    const listener: Listener = { task, lastId: afterId, deliver, onError, closed: false, busy: true, started: false, readNeeded: true, held: [], heardAt: Date.now() };
    task.listeners.add(listener);
    // Read only once subscribed: an entry appended in between is then in the read or in a message.
    task.ready.then(
      () => {
        listener.busy = false;
        void this.drain(listener);
      },
      (error: unknown) => {
        if (!listener.closed) onError(error);
      },
    );
    return () => this.unsubscribe(listener);
  }

  /**
   * Resolves once the task has ended, with its final message (the finished row when its writer sent it),
   * false at the timeout or when `signal` aborts; reads no event.
   */
  waitForFinal(taskId: string, options: WaitForFinalOptions): Promise<FinalWait> {
    return this.waiters.wait(taskId, options);
  }

  /** Number of live listeners (for metrics and tests). */
  listenerCount(): number {
    let n = 0;
    for (const task of this.byTask.values()) n += task.listeners.size;
    return n;
  }

  /** Number of requests waiting for a task's end. */
  waiterCount(): number {
    return this.waiters.size;
  }

  close(): void {
    this.closed = true;
    clearInterval(this.timer);
    for (const task of this.byTask.values()) for (const listener of task.listeners) listener.closed = true;
    this.byTask.clear();
    this.byChannel.clear();
    this.waiters.close();
  }

  private channelOf(taskId: string): TaskChannel {
    let task = this.byTask.get(taskId);
    if (!task) {
      const channel = this.keys.taskNotify(taskId);
      task = { taskId, channel, listeners: new Set(), ready: this.subscriptions.subscribe(channel) };
      this.byTask.set(taskId, task);
      this.byChannel.set(channel, task);
    }
    return task;
  }

  private unsubscribe(listener: Listener): void {
    if (listener.closed) return;
    listener.closed = true;
    const { task } = listener;
    task.listeners.delete(listener);
    if (task.listeners.size > 0 || this.byTask.get(task.taskId) !== task) return;
    this.byTask.delete(task.taskId);
    this.byChannel.delete(task.channel);
    this.subscriptions.unsubscribe(task.channel);
  }

  /** A message for the listener's task: delivered at once unless the listener is busy reading. */
  private hear(listener: Listener, notice: TaskEventNotice | null): void {
    if (listener.closed) return;
    listener.heardAt = Date.now();
    if (notice === null || listener.held.length >= MAX_HELD_NOTICES) {
      // Not a message of ours (an older writer's bare wake-up), or too many held: read instead.
      listener.held.length = 0;
      listener.readNeeded = true;
    } else listener.held.push(notice);
    void this.drain(listener);
  }

  /** Applies held messages and reads when needed, in order; never two reads at once for one listener. */
  private async drain(listener: Listener): Promise<void> {
    if (listener.busy || listener.closed) return;
    listener.busy = true;
    try {
      while (!listener.closed) {
        if (listener.readNeeded) {
          listener.readNeeded = false;
          await this.read(listener);
          continue;
        }
        const notice = listener.held.shift();
        if (!notice) break;
        this.apply(listener, notice);
      }
    } catch (error) {
      if (!listener.closed) listener.onError(error);
    } finally {
      listener.busy = false;
    }
  }

  /** Delivers a message's entries if they continue from the listener's last id; a gap means read. */
  private apply(listener: Listener, notice: TaskEventNotice): void {
    if (compareStreamIds(notice.lastId, listener.lastId) <= 0) return; // nothing it has not had
    // The entry before this message's first is past what the listener has: something was lost.
    if (notice.entries === null || compareStreamIds(notice.previousId, listener.lastId) > 0) {
      listener.readNeeded = true;
      return;
    }
    const fresh = notice.entries.filter((entry) => compareStreamIds(entry.id, listener.lastId) > 0);
    listener.lastId = fresh[fresh.length - 1]!.id;
    listener.deliver(fresh);
  }

  private async read(listener: Listener): Promise<void> {
    for (;;) {
      const entries = await this.log.readAfter(listener.task.taskId, listener.lastId, READ_COUNT);
      if (listener.closed) return;
      listener.heardAt = Date.now();
      if (entries.length > 0 || !listener.started) {
        listener.started = true;
        if (entries.length > 0) listener.lastId = entries[entries.length - 1]!.id;
        listener.deliver(entries);
      }
      if (entries.length < READ_COUNT) return;
    }
  }

  /**
   * The subscriber (re)connected: ioredis has re-sent its SUBSCRIBEs before this, so once a PING comes
   * back they hold, and one read per listener (and a check per waiter) covers what was sent meanwhile.
   */
  private resync(): void {
    if (this.closed || (this.byTask.size === 0 && this.waiters.size === 0)) return;
    this.subscriber.ping().then(
      () => {
        for (const task of this.byTask.values()) {
          for (const listener of task.listeners) {
            listener.readNeeded = true;
            void this.drain(listener);
          }
        }
        this.waiters.recheckAll();
      },
      () => undefined,
    );
  }

  /**
   * Listeners that heard nothing for `safetyCheckMs` (a task queued or thinking, or its last message
   * lost): one XREVRANGE COUNT 1 per task finds whether the stream went past them, and only those read.
   */
  private safetyCheck(): void {
    const now = Date.now();
    for (const task of this.byTask.values()) {
      const quiet: Listener[] = [];
      for (const listener of task.listeners) {
        if (listener.busy || now - listener.heardAt < this.safetyCheckMs) continue;
        listener.heardAt = now;
        quiet.push(listener);
      }
      if (quiet.length === 0) continue;
      this.log.lastId(task.taskId).then(
        (tail) => {
          if (tail === null) return;
          for (const listener of quiet) {
            if (listener.closed || compareStreamIds(tail, listener.lastId) <= 0) continue;
            listener.readNeeded = true;
            void this.drain(listener);
          }
        },
        () => undefined,
      );
    }
    this.waiters.recheckIdle(now);
  }
}
