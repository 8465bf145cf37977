import { eventually, testRedisUrl, uniquePrefix } from "@llmq/testkit";
import { IngestLeases, type KeySpace, type RedisConnection, closeRedis, createRedis, keySpace } from "../src";

let redis: RedisConnection;
let keys: KeySpace;

beforeAll(() => {
  redis = createRedis(testRedisUrl(), { blocking: true });
  keys = keySpace(uniquePrefix());
});
afterAll(async () => {
  await closeRedis(redis);
});

describe("IngestLeases", () => {
  it("lets an owner hold at most its share of leases, renews a held one, and frees one given back", async () => {
    const leases = new IngestLeases(redis, keys, { perOwner: 2, leaseMs: 60_000 });
    expect(await leases.acquire("alice", "b1")).toBe(true);
    expect(await leases.acquire("alice", "b2")).toBe(true);
    expect(await leases.acquire("alice", "b3")).toBe(false);
    // Renewing a lease it holds, and another owner's, are unaffected by the cap.
    expect(await leases.acquire("alice", "b1")).toBe(true);
    expect(await leases.acquire("bob", "b9")).toBe(true);
    const release = leases.hold("alice", "b2", () => undefined);
    await release();
    expect(await leases.acquire("alice", "b3")).toBe(true);
  });

  it("frees the lease of a holder that stopped renewing once it runs out, and keeps one that is renewed", async () => {
    // Renewed every 500 ms: a second of slack before a held lease could run out.
    const leases = new IngestLeases(redis, keys, { perOwner: 1, leaseMs: 1_500 });
    expect(await leases.acquire("carol", "dead")).toBe(true);
    expect(await leases.acquire("carol", "next")).toBe(false);
    await eventually(async () => ((await leases.acquire("carol", "next")) ? true : undefined), { what: "the dead holder's lease to run out" });
    const errors: unknown[] = [];
    const release = leases.hold("carol", "next", (error) => errors.push(error));
    try {
      // Held across several lease lengths: renewed, so nobody else gets it.
      for (let i = 0; i < 4; i++) {
        await new Promise((resolve) => setTimeout(resolve, 600));
        expect(await leases.acquire("carol", "other")).toBe(false);
      }
    } finally {
      await release();
    }
    expect(errors).toEqual([]);
    expect(await leases.acquire("carol", "other")).toBe(true);
  });
});
