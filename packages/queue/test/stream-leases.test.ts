import { eventually, testRedisUrl, uniquePrefix } from "@llmq/testkit";
import { type KeySpace, type RedisConnection, StreamLeases, closeRedis, createRedis, keySpace } from "../src";

let redis: RedisConnection;
let keys: KeySpace;

beforeAll(() => {
  redis = createRedis(testRedisUrl(), { blocking: true });
  keys = keySpace(uniquePrefix());
});
afterAll(async () => {
  await closeRedis(redis);
});

const ignore = () => undefined;
const subject = (userId: string, keyId: string | null, keyLimit: number, userLimit = 0) => ({ userId, keyId, keyLimit, userLimit });

describe("StreamLeases", () => {
  it("refuses past the key's or the user's limit, names which and how many, and admits again once one is given back", async () => {
    const leases = new StreamLeases(redis, keys, { leaseMs: 60_000, onError: ignore });
    try {
      const first = await leases.acquire(subject("u1", "k1", 2, 3));
      const second = await leases.acquire(subject("u1", "k1", 2, 3));
      expect(typeof first).toBe("function");
      expect(typeof second).toBe("function");
      expect(await leases.acquire(subject("u1", "k1", 2, 3))).toEqual({ whose: "key", open: 2, limit: 2 });
      // Another key of the same user: its own set has room, the user's (3) takes one more.
      expect(typeof (await leases.acquire(subject("u1", "k2", 2, 3)))).toBe("function");
      expect(await leases.acquire(subject("u1", "k2", 2, 3))).toEqual({ whose: "user", open: 3, limit: 3 });
      expect(leases.size()).toBe(6); // three leases, each in its user's and its key's set
      (first as () => void)();
      await eventually(async () => ((await redis.zcard(keys.openStreams("u1", "k1"))) === 1 ? true : undefined), { what: "the lease given back" });
      expect(typeof (await leases.acquire(subject("u1", "k1", 2, 3)))).toBe("function");
    } finally {
      await leases.close();
    }
    expect(await redis.zcard(keys.openStreams("u1", null))).toBe(0);
  });

  it("keeps renewed leases past their length, and frees those of a process that died once they run out", async () => {
    const dead = createRedis(testRedisUrl(), { blocking: true });
    const crashed = new StreamLeases(dead, keys, { leaseMs: 900, onError: ignore });
    const alive = new StreamLeases(redis, keys, { leaseMs: 900, onError: ignore });
    try {
      expect(typeof (await alive.acquire(subject("u2", "k", 2)))).toBe("function");
      expect(typeof (await crashed.acquire(subject("u2", "k", 2)))).toBe("function");
      // The crashed process loses its connection without giving its lease back.
      dead.disconnect();
      expect(await alive.acquire(subject("u2", "k", 2))).toEqual({ whose: "key", open: 2, limit: 2 });
      const admitted = await eventually(async () => {
        const taken = await alive.acquire(subject("u2", "k", 2));
        return typeof taken === "function" ? taken : undefined;
      }, { what: "the dead process's lease to run out" });
      expect(typeof admitted).toBe("function");
      // Both of the live process's leases are renewed: held over several lease lengths.
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      expect(await redis.zcard(keys.openStreams("u2", "k"))).toBe(2);
      expect(await alive.acquire(subject("u2", "k", 2))).toEqual({ whose: "key", open: 2, limit: 2 });
    } finally {
      await alive.close();
      await crashed.close();
    }
  });
});
