// closeRedis closes a connection for good and leaves nothing behind that holds the process open: a
// worker's shutdown closes its dispatch loops' blocking connections (cut to stop a wait) and then every
// connection again, and a second close of a closed one must not arm ioredis's socket-destroy timer.
import { testRedisUrl } from "@llmq/testkit";
import { closeRedis, createRedis } from "../src";

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
});
