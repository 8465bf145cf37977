import type { RedisConnection } from "./connection";
import type { KeySpace } from "./keys";

// KEYS: the owner's lease set. ARGV: batch id, lease ms, most leases per owner. Redis time, so workers'
// clocks never need to agree. Drops expired leases (a worker that died), then takes or renews this one
// if the owner holds fewer than the most (or already holds this one). 1 when held.
const ACQUIRE = `
local t = redis.call("TIME")
local now = t[1] * 1000 + math.floor(t[2] / 1000)
redis.call("ZREMRANGEBYSCORE", KEYS[1], "-inf", now)
if redis.call("ZSCORE", KEYS[1], ARGV[1]) or redis.call("ZCARD", KEYS[1]) < tonumber(ARGV[3]) then
  redis.call("ZADD", KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
  redis.call("PEXPIRE", KEYS[1], ARGV[2])
  return 1
end
return 0`;

/**
 * Fair batch ingestion: at most `perOwner` ingests of one user run at once, over every worker. A lease
 * is a member of a sorted set per user, scored by its expiry and renewed while the ingest runs, so a
 * worker that dies frees its lease after `leaseMs`. One Redis call per ingest and per renewal, never per line.
 */
export class IngestLeases {
  constructor(
    private readonly redis: RedisConnection,
    private readonly keys: KeySpace,
    private readonly options: { perOwner: number; leaseMs: number },
  ) {}

  /** Takes (or renews) the lease of `batchId` for its owner; false while the owner's other ingests hold them all. */
  async acquire(ownerId: string, batchId: string): Promise<boolean> {
    return (await this.redis.eval(ACQUIRE, 1, this.keys.ingestLeases(ownerId), batchId, this.options.leaseMs, this.options.perOwner)) === 1;
  }

  /** Keeps the lease renewed until the returned function is called, which gives it back. */
  hold(ownerId: string, batchId: string, onError: (error: unknown) => void): () => Promise<void> {
    const timer = setInterval(() => {
      this.acquire(ownerId, batchId).catch(onError);
    }, Math.max(100, Math.floor(this.options.leaseMs / 3)));
    return async () => {
      clearInterval(timer);
      await this.redis.zrem(this.keys.ingestLeases(ownerId), batchId).catch(onError);
    };
  }
}
