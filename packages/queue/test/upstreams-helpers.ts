import type { RedisConnection, RunQueue } from "../src";

/** A seeded PRNG (mulberry32), so a failing random run can be replayed. */
export function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** Every key of the queue (or those whose name after the base matches `part`) and its value, as a comparable text (for "changes nothing" checks). */
export async function dumpQueue(redis: RedisConnection, queue: RunQueue, part?: RegExp): Promise<Record<string, unknown>> {
  const base = queue.keys.base;
  const keys = (await redis.keys(`${base.replace(/[{}]/g, "\\$&")}*`)).filter((key) => !part || part.test(key.slice(base.length))).sort();
  const out: Record<string, unknown> = {};
  for (const key of keys) {
    const type = await redis.type(key);
    if (type === "hash") out[key] = await redis.hgetall(key);
    else if (type === "zset") out[key] = await redis.zrange(key, "0", "-1", "WITHSCORES");
    else if (type === "list") out[key] = await redis.lrange(key, 0, -1);
    else out[key] = await redis.get(key);
    const ttl = await redis.pttl(key);
    if (ttl > 0) out[`${key} ttl`] = true;
  }
  return out;
}
