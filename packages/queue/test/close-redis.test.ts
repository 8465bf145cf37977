// closeRedis closes a connection for good and leaves nothing behind that holds the process open: a
// worker's shutdown closes its dispatch loops' blocking connections (cut to stop a wait) and then every
// connection again, and a second close of a closed one must not arm ioredis's socket-destroy timer. A Redis
// Cluster client closed while a slot refresh is in flight must not go on refreshing, and a subscriber closed
// while it reconnects must not leave a command to fail unhandled. ioredis 6.0.0 failed both, and llmq worked
// around it in connection.ts; 6.1.0 does neither, and these tests keep it so.
import { eventually, redisReady, testRedisClusterNodes, testRedisUrl, uniquePrefix } from "@llmq/testkit";
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
    // With ioredis 6.0.0: the refresh that was in flight scheduled the next round once it finished, and every
    // round scheduled another, every 2 s, for good (a timer that kept the process from exiting).
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    expect(refreshes).toBe(atEnd);
    expect(cluster.status).toBe("end");
  });

  it("of a subscriber reconnecting, in the middle of its handshake, leaves no command to fail unhandled", async () => {
    const channel = `${uniquePrefix()}:close-test`;
    const subscriber = createRedis(testRedisUrl(), { blocking: true, name: "close-redis-subscriber" });
    const id = await subscriber.client("ID");
    await subscriber.subscribe(channel);
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on("unhandledRejection", onUnhandled);
    try {
      // Closed the moment its ready check has answered, before ioredis acts on that answer: as a worker's
      // shutdown finds its cancel subscriber reconnecting after Redis cut it.
      let closing: Promise<void> | undefined;
      const internals = subscriber as unknown as { _readyCheck: (callback: (...args: unknown[]) => void) => void };
      const readyCheck = internals._readyCheck.bind(subscriber);
      internals._readyCheck = (callback) =>
        readyCheck((...args: unknown[]) => {
          closing ??= closeRedis(subscriber);
          callback(...args);
        });
      const admin = await redisReady(createRedis(testRedisUrl()));
      try {
        await admin.client("KILL", "ID", String(id));
      } finally {
        await closeRedis(admin);
      }
      await eventually(async () => (closing ? true : undefined), { timeoutMs: 10_000, what: "the subscriber reconnecting" });
      await closing;
      if (subscriber.status !== "end") await new Promise((resolve) => subscriber.once("end", resolve));
      // Node reports an unhandled rejection once the microtasks of the turn that rejected it have run.
      await new Promise((resolve) => setTimeout(resolve, 50));
    } finally {
      process.off("unhandledRejection", onUnhandled);
    }
    // ioredis 6.0.0's ready handler re-sent the SUBSCRIBE on the connection being closed with nothing to
    // catch it; the close rejected it ("Connection is closed."): an unhandled rejection, which ends a Node
    // process (6.1.0 catches it: redis/ioredis#2187).
    expect(unhandled).toEqual([]);
    expect(subscriber.status).toBe("end");
  });
});
