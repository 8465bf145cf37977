import type { ChannelSubscriptions } from "./channel-subscriptions";
import type { KeySpace } from "./keys";
import { type FinalNotice, parseFinalNotice } from "./task-event-notices";

/** How a wait ended: false (timeout, abort), or the task's end, as its final message told it (a bare one when its row said so). */
export type FinalWait = false | FinalNotice;

/** The end known from the task's row, not from a message: nothing more than that it ended. */
const ENDED: FinalNotice = { status: null, task: null };

export interface WaitForFinalOptions {
  /** Gives up (resolving false) after this long. */
  timeoutMs: number;
  /** Gives up (resolving false) when this aborts: the client went away. */
  signal?: AbortSignal;
  /**
   * Says whether the task has ended, from the source of truth (its row): asked once subscribed (a final
   * event appended before that was announced to nobody), after the subscriber reconnects (its message
   * may be lost), and now and then. The first answer's failure fails the wait.
   */
  isFinal: () => Promise<boolean>;
}

interface FinalChannel {
  channel: string;
  waiters: Set<Waiter>;
  ready: Promise<unknown>;
}

interface Waiter {
  channel: FinalChannel;
  isFinal: () => Promise<boolean>;
  checking: boolean;
  checkAgain: boolean;
  checkedAt: number;
  settle(outcome: FinalWait | { error: unknown }): void;
}

/**
 * Requests waiting for a task's end (synchronous completions): each listens on its task's final channel,
 * which carries one message per task, so a waiter is woken once and reads no token. Waiters of one task
 * share the channel's subscription, over the process's one subscriber connection.
 */
export class FinalWaiters {
  private readonly byChannel = new Map<string, FinalChannel>();

  constructor(
    private readonly subscriptions: ChannelSubscriptions,
    private readonly keys: KeySpace,
    private readonly recheckMs: number,
  ) {}

  /** Resolves with the final message once the task has ended, false at the timeout or when `signal` aborts. */
  wait(taskId: string, options: WaitForFinalOptions): Promise<FinalWait> {
    if (options.signal?.aborted) return Promise.resolve(false);
    return new Promise<FinalWait>((resolve, reject) => {
      const channel = this.channelOf(taskId);
      const onAbort = () => waiter.settle(false);
      const timer = setTimeout(onAbort, options.timeoutMs);
      const waiter: Waiter = {
        channel,
        isFinal: options.isFinal,
        checking: false,
        checkAgain: false,
        checkedAt: Date.now(),
        settle: (outcome) => {
          if (!channel.waiters.delete(waiter)) return;
          clearTimeout(timer);
          options.signal?.removeEventListener("abort", onAbort);
          if (channel.waiters.size === 0) this.release(channel);
          if (outcome === false || !("error" in outcome)) resolve(outcome);
          else reject(outcome.error);
        },
      };
      channel.waiters.add(waiter);
      options.signal?.addEventListener("abort", onAbort, { once: true });
      channel.ready.then(
        () => this.check(waiter, true),
        (error: unknown) => waiter.settle({ error }),
      );
    });
  }

  /** Settles the waiters of `channel` with its message if it is a final channel; false when it is not one of ours. */
  onMessage(channel: string, message: string): boolean {
    const entry = this.byChannel.get(channel);
    if (!entry) return false;
    const notice = parseFinalNotice(message);
    for (const waiter of [...entry.waiters]) waiter.settle(notice);
    return true;
  }

  /** Asks every waiter not asked for `recheckMs` (a final message lost without a reconnect: the append failed). */
  recheckIdle(now: number): void {
    for (const entry of this.byChannel.values()) for (const waiter of entry.waiters) if (now - waiter.checkedAt >= this.recheckMs) this.check(waiter);
  }

  /** Asks every waiter again (the subscriber reconnected: messages sent meanwhile are lost). */
  recheckAll(): void {
    for (const entry of this.byChannel.values()) for (const waiter of entry.waiters) this.check(waiter);
  }

  get size(): number {
    let n = 0;
    for (const entry of this.byChannel.values()) n += entry.waiters.size;
    return n;
  }

  close(): void {
    for (const entry of [...this.byChannel.values()]) for (const waiter of [...entry.waiters]) waiter.settle(false);
    this.byChannel.clear();
  }

  private channelOf(taskId: string): FinalChannel {
    const channel = this.keys.taskFinal(taskId);
    let entry = this.byChannel.get(channel);
    if (!entry) {
      entry = { channel, waiters: new Set(), ready: this.subscriptions.subscribe(channel) };
      this.byChannel.set(channel, entry);
    }
    return entry;
  }

  private release(entry: FinalChannel): void {
    if (this.byChannel.get(entry.channel) !== entry) return;
    this.byChannel.delete(entry.channel);
    this.subscriptions.unsubscribe(entry.channel);
  }

  /** Asks `isFinal`, never twice at once for one waiter (a request made meanwhile runs after). */
  private check(waiter: Waiter, first = false): void {
    if (!waiter.channel.waiters.has(waiter)) return;
    if (waiter.checking) {
      waiter.checkAgain = true;
      return;
    }
    waiter.checking = true;
    waiter.checkedAt = Date.now();
    waiter.isFinal().then(
      (final) => {
        waiter.checking = false;
        if (final) waiter.settle(ENDED);
        else if (waiter.checkAgain) {
          waiter.checkAgain = false;
          this.check(waiter);
        }
      },
      (error: unknown) => {
        waiter.checking = false;
        // Later checks are a safety net: their failure leaves the wait to the message or the timeout.
        if (first) waiter.settle({ error });
        else if (waiter.checkAgain) {
          waiter.checkAgain = false;
          this.check(waiter);
        }
      },
    );
  }
}
