import { uniquePrefix } from "@llmq/testkit";
import { type RedisConnection, RunQueue } from "../src";

/** A model's run queue and its fallback's, on one test clock the test moves by hand. */
export function twoQueues(redis: RedisConnection, start = 1_800_000_000_000) {
  const clock = { now: start };
  const prefix = uniquePrefix();
  const now = () => clock.now;
  const a = new RunQueue(redis, { prefix, queueName: "llm_model_a", now });
  const b = new RunQueue(redis, { prefix, queueName: "llm_model_b", now });
  return { a, b, clock };
}

/** Every key of one queue whose name (after the base) matches `part`, with its value (for "untouched" checks). */
export async function keysLike(redis: RedisConnection, queue: RunQueue, part: RegExp): Promise<Record<string, unknown>> {
  const keys = (await redis.keys(`${queue.keys.base.replace(/[{}]/g, "\\$&")}*`)).filter((k) => part.test(k.slice(queue.keys.base.length))).sort();
  const out: Record<string, unknown> = {};
  for (const key of keys) {
    const type = await redis.type(key);
    if (type === "hash") out[key] = await redis.hgetall(key);
    else if (type === "zset") out[key] = await redis.zrange(key, "0", "-1", "WITHSCORES");
    else if (type === "list") out[key] = await redis.lrange(key, 0, -1);
    else out[key] = await redis.get(key);
  }
  return out;
}
