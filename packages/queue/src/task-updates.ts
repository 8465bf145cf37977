import type { RedisConnection } from "./connection";
import type { KeySpace } from "./keys";

/** A task whose row changed (created, started, progressed, ended); the row itself is read from Postgres. */
export interface TaskUpdate {
  taskId: string;
  ownerId: string;
}

/** Updates per PUBLISH: a 50,000-task batch is a few dozen messages, none of them large. */
const PER_MESSAGE = 1_000;

/**
 * Announces task changes on one Redis pub/sub channel, for live task lists (the dashboard). Best effort:
 * a lost message costs a list row that refreshes late, never a task, so failures are swallowed here
 * and callers never wait on it twice.
 */
export class TaskUpdates {
  constructor(
    private readonly redis: RedisConnection,
    private readonly keys: KeySpace,
    private readonly onError: (error: unknown) => void = () => undefined,
  ) {}

  /** Publishes `updates` (chunked); resolves when sent or failed, never rejects. */
  async publish(updates: readonly TaskUpdate[]): Promise<void> {
    try {
      for (let start = 0; start < updates.length; start += PER_MESSAGE) {
        const chunk = updates.slice(start, start + PER_MESSAGE).map((update) => [update.taskId, update.ownerId]);
        await this.redis.publish(this.keys.taskUpdatesChannel, JSON.stringify(chunk));
      }
    } catch (error) {
      this.onError(error);
    }
  }
}

/** Calls `onUpdates` with every published batch of updates, over an existing subscriber connection. */
export async function subscribeTaskUpdates(subscriber: RedisConnection, keys: KeySpace, onUpdates: (updates: TaskUpdate[]) => void): Promise<void> {
  subscriber.on("message", (channel: string, message: string) => {
    if (channel !== keys.taskUpdatesChannel) return;
    const updates = parseUpdates(message);
    if (updates.length > 0) onUpdates(updates);
  });
  await subscriber.subscribe(keys.taskUpdatesChannel);
}

function parseUpdates(message: string): TaskUpdate[] {
  try {
    const pairs: unknown = JSON.parse(message);
    if (!Array.isArray(pairs)) return [];
    return pairs.flatMap((pair) =>
      Array.isArray(pair) && typeof pair[0] === "string" && typeof pair[1] === "string" ? [{ taskId: pair[0], ownerId: pair[1] }] : [],
    );
  } catch {
    return [];
  }
}
