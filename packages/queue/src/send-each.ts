import { type RedisConnection, isCluster } from "./connection";
import { type LuaScript, type ScriptArg, isNoScript } from "./lua-script";

/** One command: a Redis command's name or one of our scripts (lua-script.ts), and its arguments, keys in one hash slot. */
export type Call = readonly [command: string | LuaScript<unknown>, ...args: ScriptArg[]];

type Sender = Record<string, (...args: ScriptArg[]) => unknown>;
type Wire = readonly [command: string, ...args: ScriptArg[]];

/**
 * Sends commands whose keys may lie in different hash slots, answering `[error, reply]` per call in order
 * (as `pipeline.exec()` does). On one Redis: one pipeline, one round trip, as before. On a Redis Cluster,
 * which refuses a pipeline over several masters' slots: each call alone, all in the same tick, so an
 * auto-pipelining connection sends one write per master they touch. A script goes as EVALSHA; the
 * scripts Redis answered NOSCRIPT to (it did not run them) are sent again as EVAL, together, once.
 */
export async function sendEach(redis: RedisConnection, calls: readonly Call[]): Promise<[Error | null, unknown][]> {
  if (calls.length === 0) return [];
  const results = await sendWire(redis, calls.map(([command, ...args]): Wire => (typeof command === "string" ? [command, ...args] : command.evalsha(args))));
  const again: number[] = [];
  results.forEach(([error], index) => {
    if (typeof calls[index]![0] !== "string" && isNoScript(error)) again.push(index);
  });
  if (again.length === 0) return results;
  const resent = await sendWire(
    redis,
    again.map((index) => {
      const [script, ...args] = calls[index]! as readonly [LuaScript<unknown>, ...ScriptArg[]];
      return script.eval(args);
    }),
  );
  again.forEach((index, position) => (results[index] = resent[position] ?? [new Error("no reply"), null]));
  return results;
}

async function sendWire(redis: RedisConnection, calls: readonly Wire[]): Promise<[Error | null, unknown][]> {
  if (!isCluster(redis)) {
    const pipeline = redis.pipeline();
    for (const [command, ...args] of calls) (pipeline as unknown as Sender)[command]!.apply(pipeline, args);
    return ((await pipeline.exec()) ?? []) as [Error | null, unknown][];
  }
  const settled = await Promise.allSettled(calls.map(([command, ...args]) => (redis as unknown as Sender)[command]!.apply(redis, args) as Promise<unknown>));
  return settled.map((outcome) => (outcome.status === "fulfilled" ? [null, outcome.value] : [outcome.reason instanceof Error ? outcome.reason : new Error(String(outcome.reason)), null]));
}
