import { redisReady, testRedisClusterNodes, testRedisUrl, uniquePrefix } from "@llmq/testkit";
import { type KeySpace, type RedisConnection, TokenUsage, closeRedis, createRedis, keySpace, parseClusterNodes, secondsUntilUtcMidnight } from "../src";

let redis: RedisConnection;
let keys: KeySpace;
let usage: TokenUsage;
let n = 0;

beforeAll(() => {
  redis = createRedis(testRedisUrl(), { blocking: true });
  keys = keySpace(uniquePrefix());
  usage = new TokenUsage(redis, keys);
});
afterAll(async () => {
  await closeRedis(redis);
});

const subjects = () => ({ userId: `user${++n}`, keyId: `key${n}` });
const NOON = new Date("2031-05-06T12:00:00Z");

/** A batch's stored reservation and usage, as BatchRepository keeps them. */
function settlementStore(settlement: { ownerId: string; apiKeyId: string | null; reservedTokens: number; usedTokens: number }) {
  let settled = false;
  return {
    settlementOf: async () => (settled ? null : { ...settlement, reservedAt: NOON }),
    markSettled: async () => {
      if (settled) return false;
      settled = true;
      return true;
    },
  };
}

describe("TokenUsage", () => {
  it("counts a day's tokens per user and per key, apart from other days, expiring after two days", async () => {
    const who = subjects();
    await usage.add(who, 120, NOON);
    await usage.add(who, 30, NOON);
    await usage.add({ userId: who.userId, keyId: null }, 5, NOON);
    expect(await usage.usedToday(who, NOON)).toEqual({ user: 155, key: 150 });
    expect(await usage.usedToday({ userId: who.userId, keyId: null }, NOON)).toEqual({ user: 155, key: null });
    expect(await usage.usedToday(who, new Date("2031-05-07T00:00:01Z"))).toEqual({ user: 0, key: 0 });
    const ttl = await redis.ttl(keys.tokensUsed(who.userId, null, "2031-05-06"));
    expect(ttl).toBeGreaterThan(2 * 24 * 3600 - 60);
    expect(ttl).toBeLessThanOrEqual(2 * 24 * 3600);
  });

  it("reserves within both limits, refuses past either (saying which) and counts nothing for a refusal", async () => {
    const who = subjects();
    expect(await usage.reserve(who, 60, { key: 100, user: 150 }, NOON)).toBeNull();
    expect(await usage.reserve(who, 50, { key: 100, user: 150 }, NOON)).toEqual({ limit: "key", tokensPerDay: 100, used: 60 });
    expect(await usage.usedToday(who, NOON)).toEqual({ user: 60, key: 60 });
    // The same user through another key: the user's limit holds over both.
    const otherKey = { userId: who.userId, keyId: `${who.keyId}-2` };
    expect(await usage.reserve(otherKey, 80, { key: 0, user: 150 }, NOON)).toBeNull();
    expect(await usage.reserve(otherKey, 20, { key: 0, user: 150 }, NOON)).toEqual({ limit: "user", tokensPerDay: 150, used: 140 });
    expect(await usage.usedToday(who, NOON)).toEqual({ user: 140, key: 60 });
  });

  it("never lets concurrent reservations pass a limit together", async () => {
    const who = subjects();
    const results = await Promise.all(Array.from({ length: 20 }, () => usage.reserve(who, 10, { key: 55, user: 0 }, NOON)));
    expect(results.filter((refusal) => refusal === null).length).toBeLessThanOrEqual(5);
    expect((await usage.usedToday(who, NOON)).key).toBeLessThanOrEqual(55);
  });

  it("settles a batch once: gives back what it did not use, adds what it used beyond its reservation", async () => {
    const under = subjects();
    await usage.add(under, 1_000, NOON);
    const underStore = settlementStore({ ownerId: under.userId, apiKeyId: under.keyId, reservedTokens: 1_000, usedTokens: 400 });
    await usage.settleBatch(underStore, "b1");
    await usage.settleBatch(underStore, "b1");
    expect(await usage.usedToday(under, NOON)).toEqual({ user: 400, key: 400 });

    const over = subjects();
    await usage.add(over, 100, NOON);
    await usage.settleBatch(settlementStore({ ownerId: over.userId, apiKeyId: null, reservedTokens: 100, usedTokens: 130 }), "b2");
    expect(await usage.usedToday(over, NOON)).toEqual({ user: 130, key: 100 });
  });

  it("moves and reads a user's and a key's counters together on a Redis Cluster (one hash slot)", async () => {
    const cluster = await redisReady(createRedis(parseClusterNodes(testRedisClusterNodes()), { name: "token-usage-cluster-test" }));
    try {
      const onCluster = new TokenUsage(cluster, keySpace(uniquePrefix()));
      const who = subjects();
      await onCluster.add(who, 70, NOON);
      expect(await onCluster.reserve(who, 40, { key: 100, user: 0 }, NOON)).toEqual({ limit: "key", tokensPerDay: 100, used: 70 });
      expect(await onCluster.reserve(who, 30, { key: 100, user: 0 }, NOON)).toBeNull();
      expect(await onCluster.usedToday(who, NOON)).toEqual({ user: 100, key: 100 });
    } finally {
      await closeRedis(cluster);
    }
  });

  it("counts seconds to the next UTC midnight, at least one", () => {
    expect(secondsUntilUtcMidnight(NOON)).toBe(12 * 3600);
    expect(secondsUntilUtcMidnight(new Date("2031-05-06T23:59:59.900Z"))).toBe(1);
  });
});
