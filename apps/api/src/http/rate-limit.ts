import { RateLimitError } from "@llmq/core";
import { type KeySpace, LuaScript, type RedisConnection } from "@llmq/queue";
import type { RequestHandler, Response } from "express";
import { principalOf } from "./principal";

const PERIOD_MS = 60_000;

// The generic cell rate algorithm (GCRA, as redis-cell and most API gateways): a counter with a limit of
// n a minute admits a burst of n, then one request every 60/n s as its allowance refills; no calendar
// window, so no edge where two windows' worth pass within a second. Each counter is a hash holding its
// "theoretical arrival time" (tat: when it would be empty again, ms) and the limit that time was counted
// at: when a key's limit changes, what it used is kept as a count of requests (the time ahead is scaled by
// old/new limit), so a raised limit applies at once. KEYS: the counters (the key's, then the user's).
// ARGV: the period in ms, then each counter's limit. A request passes only if every counter admits it;
// then, and only then, every counter counts it, so a key hammering past its own limit does not use up its
// user's share. Redis's own clock, so API processes on different hosts agree. Returns the index
// (1-based) of the counter that refused it, or 0, then Redis's now (ms), then each counter's tat after
// the request (floored to ms). Sent as EVALSHA (LuaScript): not the script's text with every request.
const HIT = new LuaScript<number[]>(`
local time = redis.call("TIME")
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local period = tonumber(ARGV[1])
local tats, refused = {}, 0
for i, key in ipairs(KEYS) do
  local limit = tonumber(ARGV[i + 1])
  local stored = redis.call("HMGET", key, "tat", "limit")
  local ahead = math.max((tonumber(stored[1]) or 0) - now, 0)
  local counted = tonumber(stored[2])
  if counted and counted ~= limit then ahead = ahead * counted / limit end
  tats[i] = now + ahead
  if refused == 0 and ahead + period / limit > period then refused = i end
end
if refused == 0 then
  for i, key in ipairs(KEYS) do
    local limit = tonumber(ARGV[i + 1])
    tats[i] = tats[i] + period / limit
    redis.call("HSET", key, "tat", tostring(tats[i]), "limit", limit)
    redis.call("PEXPIRE", key, math.ceil(tats[i] - now))
  end
end
local out = {refused, now}
for i = 1, #tats do out[i + 2] = math.floor(tats[i]) end
return out`, null);

interface Counter {
  key: string;
  limit: number;
  whose: string;
}

/**
 * Counts a request against every limited counter (one round trip, the HIT script) and sets the
 * X-RateLimit headers of the counter closest to running out (Remaining: requests that would pass now;
 * Reset: seconds until its whole allowance is back); 429 with Retry-After (when the next one would pass)
 * when one is out. Counters with no limit (0) are skipped.
 */
async function hit(redis: RedisConnection, counters: readonly Counter[], res: Response, what: string): Promise<void> {
  const limited = counters.filter((counter) => counter.limit > 0);
  if (limited.length === 0) return;
  const [refusedBy = 0, now = 0, ...tats] = await HIT.run(redis, limited.length, ...limited.map((c) => c.key), PERIOD_MS, ...limited.map((c) => c.limit));
  const state = limited.map((counter, i) => {
    const interval = PERIOD_MS / counter.limit;
    const ahead = Math.max(0, Number(tats[i] ?? now) - now);
    return { counter, interval, ahead, remaining: Math.max(0, Math.floor((PERIOD_MS - ahead) / interval)) };
  });
  const tightest = state.reduce((best, each) => (each.remaining < best.remaining ? each : best));
  res.set({ "X-RateLimit-Limit": String(tightest.counter.limit), "X-RateLimit-Remaining": String(tightest.remaining), "X-RateLimit-Reset": String(Math.ceil(tightest.ahead / 1000)) });
  const refused = state[refusedBy - 1];
  if (refused) {
    const retryAfterSeconds = Math.max(1, Math.ceil((refused.ahead + refused.interval - PERIOD_MS) / 1000));
    throw new RateLimitError(`Rate limit reached: ${refused.counter.limit} ${what} per minute for ${refused.counter.whose}. Retry in ${retryAfterSeconds} s.`, { retryAfterSeconds });
  }
}

/**
 * Task and batch submissions per minute: a request with a key must pass the key's limit and its user's,
 * a session's its user's (see Principal.quota); counted in Redis (GCRA: a burst of the limit, then the
 * allowance refills evenly over the minute), so every API process shares the counts. The admin key has no limit. Over one: 429 with Retry-After. The headers describe
 * the limit closest to running out.
 */
export function rateLimit(deps: { redis: RedisConnection; keys: KeySpace }): RequestHandler {
  return async (req, res, next) => {
    const { quota, keyId, userId } = principalOf(req);
    const counters: Counter[] = [];
    if (quota?.key && keyId) counters.push({ key: deps.keys.rateAllowance(userId, `key:${keyId}`), limit: quota.key.rateLimitPerMinute, whose: "this key" });
    if (quota) counters.push({ key: deps.keys.rateAllowance(userId, "user"), limit: quota.user.rateLimitPerMinute, whose: "this user (all its keys and sessions)" });
    await hit(deps.redis, counters, res, "requests");
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
    await hit(deps.redis, [{ key: deps.keys.rateAllowance(userId, deps.name), limit: deps.perMinute, whose: "this user" }], res, deps.what);
    next();
  };
}
