import { RateLimitError } from "@llmq/core";
import type { KeySpace, RedisConnection } from "@llmq/queue";
import type { RequestHandler } from "express";
import { principalOf } from "./principal";

const WINDOW_MS = 60_000;

/**
 * At most `perMinute` task submissions per key (per user for access tokens and the admin key) in each
 * one-minute window (a fixed window in Redis, so every API process shares the count); a key's own
 * `rate_limit_per_minute` replaces the default. 0 turns the limit off. Over it: 429 with Retry-After.
 * With `perUser`, another limit of its own (`name`, counting `what`): per user across all their keys
 * and sessions, and keys' own `rate_limit_per_minute` does not apply.
 */
export function rateLimit(deps: { redis: RedisConnection; keys: KeySpace; perMinute: number; perUser?: { name: string; what: string } }): RequestHandler {
  return async (req, res, next) => {
    const principal = principalOf(req);
    const perMinute = deps.perUser ? deps.perMinute : (principal.limits?.rateLimitPerMinute ?? deps.perMinute);
    if (perMinute <= 0) return next();
    const now = Date.now();
    const window = Math.floor(now / WINDOW_MS);
    const subject = deps.perUser ? `${deps.perUser.name}:user:${principal.userId}` : (principal.keyId ?? `user:${principal.userId}`);
    const key = deps.keys.rateWindow(subject, window);
    const [[incrError, count] = [null, 0]] = (await deps.redis.multi().incr(key).pexpire(key, WINDOW_MS).exec()) ?? [];
    if (incrError) throw incrError;
    const resetSeconds = Math.ceil(((window + 1) * WINDOW_MS - now) / 1000);
    res.set({ "X-RateLimit-Limit": String(perMinute), "X-RateLimit-Remaining": String(Math.max(0, perMinute - Number(count))), "X-RateLimit-Reset": String(resetSeconds) });
    if (Number(count) > perMinute) {
      const what = deps.perUser ? `${deps.perUser.what} per minute for this user` : "requests per minute for this key";
      throw new RateLimitError(`Rate limit reached: ${perMinute} ${what}. Retry in ${resetSeconds} s.`, { retryAfterSeconds: resetSeconds });
    }
    next();
  };
}
