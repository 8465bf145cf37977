import type { ActiveApiKey } from "@llmq/db";
import { CredentialChanges, closeRedis, createRedis, keySpace } from "@llmq/queue";
import { testRedisUrl, uniquePrefix } from "@llmq/testkit";
import { ApiKeyCache } from "../src/auth/api-key-cache";

// The cache must not serve a key changed on another process whose pub/sub message has not arrived yet:
// every announced change also raises an epoch in Redis, which the cache reads before serving from memory.
describe("ApiKeyCache and the credentials epoch", () => {
  // Queues commands until connected (the API's fail-fast connection would refuse the first ones).
  const redis = createRedis(testRedisUrl(), { blocking: true });
  const keys = keySpace(uniquePrefix());
  const changes = new CredentialChanges(redis, keys);
  afterAll(() => closeRedis(redis));

  it("drops what it holds as soon as the epoch moved, even though no message was heard", async () => {
    let lookups = 0;
    let live = true;
    const cache = new ApiKeyCache({
      lookup: async () => {
        lookups += 1;
        return live ? ({ id: "key-1" } as unknown as ActiveApiKey) : null;
      },
      ttlMs: 60_000,
      epoch: () => changes.epoch(),
    });
    // A subscription that says it listens but never delivers: the message is "late".
    cache.follow({ listening: () => true });
    expect(await cache.resolve("secret")).not.toBeNull();
    expect(await cache.resolve("secret")).not.toBeNull();
    expect(lookups).toBe(1);
    // Revoked on another process: the database says so and the change is announced (epoch raised).
    live = false;
    await changes.publish({ type: "key_revoked", keyId: "key-1" });
    expect(await cache.resolve("secret")).toBeNull();
    expect(lookups).toBe(2);
  });

  it("does not serve from memory when the epoch cannot be read (Redis down): it asks the database", async () => {
    let lookups = 0;
    const cache = new ApiKeyCache({
      lookup: async () => {
        lookups += 1;
        return { id: "key-2" } as unknown as ActiveApiKey;
      },
      ttlMs: 60_000,
      epoch: () => Promise.reject(new Error("Connection is closed.")),
    });
    cache.follow({ listening: () => true });
    await cache.resolve("secret-2");
    await cache.resolve("secret-2");
    expect(lookups).toBe(2);
  });
});
