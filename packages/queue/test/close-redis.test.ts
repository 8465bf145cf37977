// closeRedis closes a connection for good and leaves nothing behind that holds the process open: a
// worker's shutdown closes its dispatch loops' blocking connections (cut to stop a wait) and then every
// connection again, and a second close of a closed one must not arm ioredis's socket-destroy timer. A Redis
// Cluster client closed while a slot refresh is in flight must not go on refreshing (see connection.ts).
import { eventually, redisReady, testRedisClusterNodes, testRedisUrl } from "@llmq/testkit";
import { closeRedis, createRedis, isCluster, parseClusterNodes } from "../src";

/** How many timers are armed right now (Node's own count of active resources). */
const timers = () => process.getActiveResourcesInfo().filter((kind) => kind === "Timeout").length;

describe("closeRedis", () => {
  it("of a connection that is already closed arms no timer", async () => {
    const redis = createRedis(testRedisUrl(), { blocking: true });
    expect(await redis.ping()).toBe("PONG");
    // As a dispatch loop stops its blocked BZPOPMIN: cut the connection, and wait until it has closed.
    const ended = new Promise<void>((resolve) => redis.once("end", () => resolve()));
    redis.disconnect(false);
    await ended;
    expect(redis.status).toBe("end");
    const before = timers();
    await closeRedis(redis);
    // Before: ioredis armed a 2 s timer to destroy a socket that had already closed (nothing cleared it).
    expect(timers()).toBe(before);
    expect(redis.status).toBe("end");
  });

  it("of a live connection quits it", async () => {
    const redis = createRedis(testRedisUrl(), { blocking: true });
    expect(await redis.ping()).toBe("PONG");
    await closeRedis(redis);
    // QUIT answered; the socket closes right after.
    if (redis.status !== "end") await new Promise<void>((resolve) => redis.once("end", () => resolve()));
    expect(redis.status).toBe("end");
    await expect(redis.ping()).rejects.toThrow(/Connection is closed/);
  });

  it("of a Redis Cluster client in the middle of a slot refresh leaves no refresh rounds running", async () => {
    const cluster = createRedis(parseClusterNodes(testRedisClusterNodes()), { name: "close-redis-test" });
    if (!isCluster(cluster)) throw new Error("createRedis made no Cluster client for a cluster target");
    await redisReady(cluster);
    // Every slot refresh the client starts, counted; the first of its periodic ones (slotsRefreshInterval,
    // 2 s) closes it the moment that refresh has sent CLUSTER SLOTS, before the answer.
    let refreshes = 0;
    let closing: Promise<void> | undefined;
    const refresh = cluster.refreshSlotsCache.bind(cluster);
    cluster.refreshSlotsCache = (callback) => {
      refreshes += 1;
      refresh(callback);
      if (callback && !closing) closing = closeRedis(cluster);
    };
    await eventually(async () => (closing ? true : undefined), { timeoutMs: 10_000, what: "the client's periodic slot refresh" });
    await closing;
    if (cluster.status !== "end") await new Promise((resolve) => cluster.once("end", resolve));
    const atEnd = refreshes;
    // Before: the refresh that was in flight scheduled the next round once it finished, and every round
    // scheduled another, every 2 s, for good (a timer that kept the process from exiting).
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    expect(refreshes).toBe(atEnd);
    expect(cluster.status).toBe("end");
  });
});
