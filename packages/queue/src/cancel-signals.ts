import type { RedisConnection } from "./connection";
import type { KeySpace } from "./keys";

/** Tells every worker that a task was cancelled, so the one running it aborts its upstream request. */
export async function publishCancel(redis: RedisConnection, keys: KeySpace, taskId: string): Promise<void> {
  await redis.publish(keys.cancelChannel, taskId);
}

/** Calls `onCancel(taskId)` for each cancellation, over a dedicated subscriber connection. */
export async function subscribeCancels(subscriber: RedisConnection, keys: KeySpace, onCancel: (taskId: string) => void): Promise<void> {
  subscriber.on("message", (channel: string, taskId: string) => {
    if (channel === keys.cancelChannel) onCancel(taskId);
  });
  await subscriber.subscribe(keys.cancelChannel);
}
