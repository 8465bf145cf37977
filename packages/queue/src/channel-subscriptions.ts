import type { RedisConnection } from "./connection";

interface Pending {
  kind: "subscribe" | "unsubscribe";
  channels: string[];
  settlers: { resolve: () => void; reject: (error: unknown) => void }[];
}

/**
 * SUBSCRIBE and UNSUBSCRIBE on a subscriber connection, a group at a time: the channels asked for while
 * the code that asked runs (until it yields: a microtask) go out in one command, so fifty streams opened
 * together cost one SUBSCRIBE, not fifty (a subscriber connection does not auto-pipeline). Requests keep
 * their order: an unsubscribe asked after a subscribe of the same channel is sent after it.
 */
export class ChannelSubscriptions {
  private queue: Pending[] = [];
  private scheduled = false;

  constructor(private readonly subscriber: RedisConnection) {}

  /** Resolves once Redis has acknowledged the subscription (with the rest of its group). */
  subscribe(channel: string): Promise<void> {
    return new Promise<void>((resolve, reject) => this.add("subscribe", channel, { resolve, reject }));
  }

  /** Unsubscribes (with the rest of its group); a failure is ignored: the connection's reconnect drops it anyway. */
  unsubscribe(channel: string): void {
    this.add("unsubscribe", channel, { resolve: () => undefined, reject: () => undefined });
  }

  private add(kind: Pending["kind"], channel: string, settler: Pending["settlers"][number]): void {
    const last = this.queue[this.queue.length - 1];
    if (last?.kind === kind) {
      last.channels.push(channel);
      last.settlers.push(settler);
    } else this.queue.push({ kind, channels: [channel], settlers: [settler] });
    if (this.scheduled) return;
    this.scheduled = true;
    queueMicrotask(() => this.send());
  }

  private send(): void {
    this.scheduled = false;
    const queue = this.queue;
    this.queue = [];
    for (const { kind, channels, settlers } of queue) {
      const sent = kind === "subscribe" ? this.subscriber.subscribe(...channels) : this.subscriber.unsubscribe(...channels);
      sent.then(
        () => settlers.forEach((settler) => settler.resolve()),
        (error: unknown) => settlers.forEach((settler) => settler.reject(error)),
      );
    }
  }
}
