import { RateLimitError } from "@llmq/core";
import type { KeySpace, RedisConnection } from "@llmq/queue";
import type { RequestHandler, Response } from "express";
import { principalOf } from "./principal";

const WINDOW_MS = 60_000;

// KEYS: the window counters (the key's, then the user's). ARGV: window ms, then each counter's limit (0:
// none). A request passes only if it passes every limit; then, and only then, every counter counts it,
// so a key hammering past its own limit does not use up its user's share. Returns the index (1-based) of
// the counter that refused it, or 0, followed by each counter's value.
const HIT = `
local counts = {}
for i, key in ipairs(KEYS) do counts[i] = tonumber(redis.call("GET", key) or "0") end
for i, key in ipairs(KEYS) do
  local limit = tonumber(ARGV[i + 1])
  if limit > 0 and counts[i] + 1 > limit then return {i, unpack(counts)} end
end
for i, key in ipairs(KEYS) do counts[i] = redis.call("INCR", key) redis.call("PEXPIRE", key, ARGV[1]) end
return {0, unpack(counts)}`;

interface Counter {
  key: string;
  limit: number;
  whose: string;
}

/**
 * Counts a request against every limited counter's one-minute window (one round trip, the HIT script)
 * and sets the X-RateLimit headers of the limit closest to running out; 429 with Retry-After when one is
 * full. Counters with no limit (0) are skipped.
 */
async function hit(redis: RedisConnection, counters: readonly Counter[], window: number, now: number, res: Response, what: string): Promise<void> {
  const limited = counters.filter((counter) => counter.limit > 0);
  if (limited.length === 0) return;
  const [refusedBy = 0, ...counts] = (await redis.eval(HIT, limited.length, ...limited.map((c) => c.key), WINDOW_MS, ...limited.map((c) => c.limit))) as number[];
  const resetSeconds = Math.ceil(((window + 1) * WINDOW_MS - now) / 1000);
  const remaining = limited.map((counter, i) => Math.max(0, counter.limit - Number(counts[i] ?? 0)));
  const tightest = remaining.indexOf(Math.min(...remaining));
  res.set({ "X-RateLimit-Limit": String(limited[tightest]!.limit), "X-RateLimit-Remaining": String(remaining[tightest]), "X-RateLimit-Reset": String(resetSeconds) });
  const refused = limited[refusedBy - 1];
  if (refused) throw new RateLimitError(`Rate limit reached: ${refused.limit} ${what} per minute for ${refused.whose}. Retry in ${resetSeconds} s.`, { retryAfterSeconds: resetSeconds });
}

/**
 * Task and batch submissions per minute: a request with a key must pass the key's limit and its user's,
 * a session's its user's (see Principal.quota); fixed one-minute windows in Redis, so every API process
 * shares the counts. The admin key has no limit. Over one: 429 with Retry-After. The headers describe
 * the limit closest to running out.
 */
export function rateLimit(deps: { redis: RedisConnection; keys: KeySpace }): RequestHandler {
  return async (req, res, next) => {
    const { quota, keyId, userId } = principalOf(req);
    const now = Date.now();
    const window = Math.floor(now / WINDOW_MS);
    const counters: Counter[] = [];
    if (quota?.key && keyId) counters.push({ key: deps.keys.rateWindow(keyId, window), limit: quota.key.rateLimitPerMinute, whose: "this key" });
    if (quota) counters.push({ key: deps.keys.rateWindow(`user:${userId}`, window), limit: quota.user.rateLimitPerMinute, whose: "this user (all its keys and sessions)" });
    await hit(deps.redis, counters, window, now, res, "requests");
    next();
  };
}

/**
 * Another per-minute limit of its own (`name`, counting `what`, e.g. file uploads): per user across all
 * their keys and sessions, the same `perMinute` for everyone (0: off); keys' and users' submission limits
 * do not apply to it.
 */
export function perUserRateLimit(deps: { redis: RedisConnection; keys: KeySpace; perMinute: number; name: string; what: string }): RequestHandler {
  return async (req, res, next) => {
    const { userId } = principalOf(req);
    const now = Date.now();
    const window = Math.floor(now / WINDOW_MS);
    await hit(deps.redis, [{ key: deps.keys.rateWindow(`${deps.name}:user:${userId}`, window), limit: deps.perMinute, whose: "this user" }], window, now, res, deps.what);
    next();
  };
}
