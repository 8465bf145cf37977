import { Redis, type RedisOptions } from "ioredis";
import type { RedisStats } from "./redis-stats";

export type RedisConnection = Redis;

/**
 * A new ioredis connection. `blocking` connections (BullMQ workers, subscribers) must retry forever
 * (`maxRetriesPerRequest: null`); command connections used on request paths fail fast so an API
 * can answer 503 while Redis is down, and auto-pipeline: the commands of concurrent requests issued in
 * one event-loop tick go out in one write, one round trip (`autoPipeline` asks the same of a blocking
 * one that never blocks: a worker's command connection). With `stats` (REDIS_STATS=1) its commands and
 * writes are counted there.
 */
export function createRedis(url: string, options: { blocking?: boolean; name?: string; stats?: RedisStats; autoPipeline?: boolean } = {}): RedisConnection {
  const base: RedisOptions = {
    connectionName: options.name,
    lazyConnect: false,
    retryStrategy: (times) => Math.min(times * 200, 2_000),
  };
  const redis = new Redis(
    url,
    options.blocking
      ? { ...base, maxRetriesPerRequest: null, enableOfflineQueue: true, enableAutoPipelining: options.autoPipeline ?? false }
      : { ...base, maxRetriesPerRequest: 1, enableOfflineQueue: false, connectTimeout: 2_000, enableAutoPipelining: true },
  );
  return options.stats ? options.stats.observe(redis) : redis;
}

/** True when Redis answers PING (readiness probe). */
export async function pingRedis(redis: RedisConnection): Promise<boolean> {
  try {
    return (await redis.ping()) === "PONG";
  } catch {
    return false;
  }
}

/**
 * Closes a connection for good: QUIT when Redis answers, otherwise drop it at once (QUIT on a down
 * Redis fails or waits in the offline queue, and the connection would keep reconnecting forever).
 */
export async function closeRedis(redis: RedisConnection): Promise<void> {
  if (redis.status === "ready") {
    try {
      await redis.quit();
      return;
    } catch {
      // Lost on the way out: fall through and drop it.
    }
  }
  redis.disconnect(false);
}

/** ioredis's ways of saying Redis is out of reach (a fail-fast command connection while it is down). */
const UNAVAILABLE_MESSAGE = /Connection is closed|Stream isn't writeable|Reached the max retries per request limit/;

/** True when `error` says Redis could not be reached, not that a command was wrong. */
export function isRedisUnavailable(error: unknown): boolean {
  const { name, message } = (error ?? {}) as { name?: unknown; message?: unknown };
  return name === "MaxRetriesPerRequestError" || (typeof message === "string" && UNAVAILABLE_MESSAGE.test(message));
}
