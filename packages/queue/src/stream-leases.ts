import { randomBytes } from "node:crypto";
import type { RedisConnection } from "./connection";
import { LuaScript } from "./lua-script";
import type { KeySpace } from "./keys";
import { type Call, sendEach } from "./send-each";

// KEYS: the key's lease set (if any), then the user's. ARGV: lease id, lease ms, then each set's limit
// (0: none). Redis time, so processes' clocks never need to agree. Drops expired leases (a process that
// died), then takes the lease in every set if none is full. Returns {0, 0} when taken, else {i, n}: set i
// (1-based) holds n leases, its limit or more.
const ACQUIRE = new LuaScript<[number, number]>(`
local t = redis.call("TIME")
local now = t[1] * 1000 + math.floor(t[2] / 1000)
for i, key in ipairs(KEYS) do
  redis.call("ZREMRANGEBYSCORE", key, "-inf", now)
  local limit = tonumber(ARGV[2 + i])
  if limit > 0 then
    local n = redis.call("ZCARD", key)
    if n >= limit then return {i, n} end
  end
end
for _, key in ipairs(KEYS) do
  redis.call("ZADD", key, now + tonumber(ARGV[2]), ARGV[1])
  redis.call("PEXPIRE", key, ARGV[2])
end
return {0, 0}`, null);

// KEYS: one lease set. ARGV: lease ms, then the ids of this process's leases in it. Pushes their expiry
// on (XX: a lease given back meanwhile stays gone).
const RENEW = new LuaScript<number>(`
local t = redis.call("TIME")
local expiry = t[1] * 1000 + math.floor(t[2] / 1000) + tonumber(ARGV[1])
for i = 2, #ARGV do redis.call("ZADD", KEYS[1], "XX", expiry, ARGV[i]) end
redis.call("PEXPIRE", KEYS[1], ARGV[1])
return 0`, 1);

/** Lease ids per renewal call (a set may hold thousands). */
const RENEW_BATCH = 1_000;

/** Who holds a lease and the limits it is checked against (0: none). */
export interface StreamSubject {
  userId: string;
  keyId: string | null;
  userLimit: number;
  keyLimit: number;
}

/** Why a lease was refused: whose set is full, and how many leases it holds. */
export interface StreamRefusal {
  whose: "user" | "key";
  open: number;
  limit: number;
}

/**
 * Counts each user's and each key's open streams and synchronous waits over every API process. A lease
 * is a member of a sorted set per user and per key (both in the user's hash slot), scored by its
 * expiry; this process renews all its leases together every `leaseMs / 3` (one call per set, not per
 * stream), so the leases of a process that died expire after `leaseMs` instead of counting forever.
 */
export class StreamLeases {
  private readonly owner = randomBytes(6).toString("hex");
  private next = 0;
  /** Lease set -> ids of this process's leases in it. */
  private readonly held = new Map<string, Set<string>>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly redis: RedisConnection,
    private readonly keys: KeySpace,
    private readonly options: { leaseMs: number; onError: (error: unknown) => void },
  ) {
    this.timer = setInterval(() => void this.renew(), Math.max(100, Math.floor(options.leaseMs / 3)));
    this.timer.unref();
  }

  /** Takes a lease for `subject`: the function that gives it back, or the refusal when a set is at its limit. */
  async acquire(subject: StreamSubject): Promise<(() => void) | StreamRefusal> {
    // The key's set first: when both are full, the narrower limit is the one to name.
    const sets = subject.keyId ? [this.keys.openStreams(subject.userId, subject.keyId), this.keys.openStreams(subject.userId, null)] : [this.keys.openStreams(subject.userId, null)];
    const limits = subject.keyId ? [subject.keyLimit, subject.userLimit] : [subject.userLimit];
    const id = `${this.owner}:${(this.next++).toString(36)}`;
    // EVALSHA, the script's text sent only after a NOSCRIPT (a Redis restart): taken on every stream opened.
    const [index, open] = await ACQUIRE.run(this.redis, sets.length, ...sets, id, this.options.leaseMs, ...limits);
    if (index > 0) return { whose: sets[index - 1] === this.keys.openStreams(subject.userId, null) ? "user" : "key", open, limit: limits[index - 1] ?? 0 };
    for (const set of sets) this.heldIn(set).add(id);
    return () => this.release(sets, id);
  }

  /** Leases this process holds. */
  size(): number {
    let n = 0;
    for (const ids of this.held.values()) n += ids.size;
    return n;
  }

  /** Gives back every lease of this process (shutdown) and stops renewing. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    // Sets of many users: one pipeline on one Redis, one write per master on a cluster.
    const calls: Call[] = [...this.held].map(([set, ids]) => ["zrem", set, ...ids]);
    this.held.clear();
    await sendEach(this.redis, calls).catch(this.options.onError);
  }

  private heldIn(set: string): Set<string> {
    let ids = this.held.get(set);
    if (!ids) this.held.set(set, (ids = new Set()));
    return ids;
  }

  private release(sets: string[], id: string): void {
    let was = false;
    for (const set of sets) {
      const ids = this.held.get(set);
      if (!ids?.delete(id)) continue;
      was = true;
      if (ids.size === 0) this.held.delete(set);
    }
    if (!was) return;
    // Both sets are in the user's hash slot: one pipeline on a cluster too.
    const pipeline = this.redis.pipeline();
    for (const set of sets) pipeline.zrem(set, id);
    pipeline.exec().catch(this.options.onError);
  }

  private async renew(): Promise<void> {
    if (this.held.size === 0) return;
    const calls: Call[] = [];
    for (const [set, ids] of this.held) {
      const all = [...ids];
      for (let at = 0; at < all.length; at += RENEW_BATCH) calls.push([RENEW, set, this.options.leaseMs, ...all.slice(at, at + RENEW_BATCH)]);
    }
    await sendEach(this.redis, calls).catch(this.options.onError);
  }
}
