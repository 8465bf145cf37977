import { RateLimitError } from "@llmq/core";
import type { KeySpace, RedisConnection } from "@llmq/queue";
import type { RequestHandler } from "express";
import { principalOf } from "./principal";

const WINDOW_MS = 60_000;

/**
 * At most `perMinute` task submissions per key (per user for access tokens and the admin key) in each
 * one-minute window (a fixed window in Redis, so
 * every API process shares the count). 0 turns the limit off. Over it: 429 with Retry-After.
 */
export function rateLimit(deps: { redis: RedisConnection; keys: KeySpace; perMinute: number }): RequestHandler {
  return async (req, res, next) => {
    if (deps.perMinute <= 0) return next();
    const principal = principalOf(req);
    const now = Date.now();
    const window = Math.floor(now / WINDOW_MS);
    const key = deps.keys.rateWindow(principal.keyId ?? `user:${principal.userId}`, window);
    const [[incrError, count] = [null, 0]] = (await deps.redis.multi().incr(key).pexpire(key, WINDOW_MS).exec()) ?? [];
    if (incrError) throw incrError;
    const resetSeconds = Math.ceil(((window + 1) * WINDOW_MS - now) / 1000);
    res.set({ "X-RateLimit-Limit": String(deps.perMinute), "X-RateLimit-Remaining": String(Math.max(0, deps.perMinute - Number(count))), "X-RateLimit-Reset": String(resetSeconds) });
    if (Number(count) > deps.perMinute) {
      throw new RateLimitError(`Rate limit reached: ${deps.perMinute} requests per minute for this key. Retry in ${resetSeconds} s.`, { retryAfterSeconds: resetSeconds });
    }
    next();
  };
}
