import { type RedisConnection, isCluster } from "./connection";

/** One command: its name (a Redis command or one defined with defineCommand) and its arguments, keys in one hash slot. */
export type Call = readonly [command: string, ...args: (string | number)[]];

type Sender = Record<string, (...args: (string | number)[]) => unknown>;

/**
 * Sends commands whose keys may lie in different hash slots, answering `[error, reply]` per call in order
 * (as `pipeline.exec()` does). On one Redis: one pipeline, one round trip, as before. On a Redis Cluster,
 * which refuses a pipeline over several masters' slots: each call alone, all in the same tick, so an
 * auto-pipelining connection sends one write per master they touch.
 */
export async function sendEach(redis: RedisConnection, calls: readonly Call[]): Promise<[Error | null, unknown][]> {
  if (calls.length === 0) return [];
  if (!isCluster(redis)) {
    const pipeline = redis.pipeline();
    for (const [command, ...args] of calls) (pipeline as unknown as Sender)[command]!.apply(pipeline, args);
    return ((await pipeline.exec()) ?? []) as [Error | null, unknown][];
  }
  const settled = await Promise.allSettled(calls.map(([command, ...args]) => (redis as unknown as Sender)[command]!.apply(redis, args) as Promise<unknown>));
  return settled.map((outcome) => (outcome.status === "fulfilled" ? [null, outcome.value] : [outcome.reason instanceof Error ? outcome.reason : new Error(String(outcome.reason)), null]));
}
