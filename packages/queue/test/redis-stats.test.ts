import { redisReady, startPrivateRedis, testRedisUrl, uniquePrefix } from "@llmq/testkit";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import { RedisStats, closeRedis, createRedis } from "../src";

// REDIS_STATS=1: what the bench reads to count Redis round trips per task. Real Redis, real sockets.
const url = () => testRedisUrl();

describe("RedisStats", () => {
  const open: Redis[] = [];
  const connect = async (options: { blocking?: boolean; stats?: RedisStats } = {}) => {
    const redis = await redisReady(createRedis(url(), { name: "stats-test", ...options }));
    open.push(redis);
    return redis;
  };
  afterEach(async () => {
    await Promise.all(open.splice(0).map(closeRedis));
  });

  it("counts a pipeline as one write (one round trip) carrying all its commands", async () => {
    const stats = new RedisStats();
    const redis = await connect({ blocking: true, stats });
    const before = stats.snapshot();
    await redis.pipeline().set("stats:a", "1").incr("stats:a").get("stats:a").exec();
    expect(stats.since(before)).toEqual({ writes: 1, commands: 3 });
  });

  it("counts commands awaited one after another as one write each", async () => {
    const stats = new RedisStats();
    const redis = await connect({ blocking: true, stats });
    const before = stats.snapshot();
    await redis.set("stats:b", "1");
    await redis.incr("stats:b");
    await redis.get("stats:b");
    expect(stats.since(before)).toEqual({ writes: 3, commands: 3 });
  });

  it("counts a MULTI block as one write of its commands, MULTI and EXEC included (as INFO commandstats does)", async () => {
    const stats = new RedisStats();
    const redis = await connect({ blocking: true, stats });
    const before = stats.snapshot();
    await redis.multi().set("stats:c", "1").expire("stats:c", 60).exec();
    expect(stats.since(before)).toEqual({ writes: 1, commands: 4 });
  });

  it("counts the commands of concurrent callers auto-pipelined in one tick as one write", async () => {
    const stats = new RedisStats();
    const redis = await connect({ stats });
    const before = stats.snapshot();
    await Promise.all(Array.from({ length: 5 }, (_, i) => redis.set(`stats:d${i}`, String(i))));
    expect(stats.since(before)).toEqual({ writes: 1, commands: 5 });
  });

  it("agrees with the server's INFO commandstats (a Redis of its own: other suites share the test Redis)", async () => {
    const server = await startPrivateRedis();
    try {
      const stats = new RedisStats();
      const redis = await redisReady(createRedis(server.url, { blocking: true, stats }));
      const probe = await redisReady(new Redis(server.url));
      open.push(redis, probe);
      const calls = async () => {
        const info = await probe.info("commandstats");
        return [...info.matchAll(/^cmdstat_(\w+):calls=(\d+)/gm)].filter(([, name]) => name !== "info").reduce((sum, [, , n]) => sum + Number(n), 0);
      };
      const serverBefore = await calls();
      const before = stats.snapshot();
      await redis.pipeline().set("stats:e", "1").get("stats:e").del("stats:e").exec();
      await redis.incr("stats:f");
      await redis.multi().incr("stats:f").incr("stats:f").exec();
      const serverCommands = (await calls()) - serverBefore;
      expect(stats.since(before).commands).toBe(8);
      expect(serverCommands).toBe(8);
      await Promise.all(open.splice(0).map(closeRedis));
    } finally {
      await server.destroy();
    }
  });

  it("counts the connections a library duplicates from an observed one (BullMQ's blocking connection)", async () => {
    const stats = new RedisStats();
    const redis = await connect({ blocking: true, stats });
    const copy = await redisReady(redis.duplicate());
    open.push(copy);
    const before = stats.snapshot();
    await copy.set("stats:g", "1");
    await redis.get("stats:g");
    expect(stats.since(before)).toEqual({ writes: 2, commands: 2 });
  });

  it("counts as many writes as ioredis makes to the socket, BullMQ's scripts and MULTI blocks included", async () => {
    const stats = new RedisStats();
    const redis = await connect({ stats });
    let socketWrites = 0;
    const socket = redis.stream;
    const write = socket.write;
    socket.write = function (this: typeof socket, ...args: unknown[]) {
      socketWrites++;
      return (write as (...a: unknown[]) => boolean).apply(this, args);
    } as typeof socket.write;
    const queue = new Queue("stats-test", { connection: redis, prefix: uniquePrefix() });
    try {
      const before = stats.snapshot();
      await queue.add("job", { n: 1 });
      await queue.addBulk([{ name: "job", data: { n: 2 } }, { name: "job", data: { n: 3 } }]);
      await Promise.all([queue.getJobCounts("waiting", "active"), redis.incr("stats:j"), redis.multi().incr("stats:j").expire("stats:j", 60).exec()]);
      await redis.get("stats:j");
      const counted = stats.since(before);
      expect(socketWrites).toBeGreaterThanOrEqual(4);
      expect(counted.writes).toBe(socketWrites);
      expect(counted.commands).toBeGreaterThan(counted.writes);
    } finally {
      socket.write = write;
      await queue.obliterate({ force: true });
      await queue.close();
    }
  });

  it("counts each connection name apart, and the whole as their sum", async () => {
    const stats = new RedisStats();
    const first = await redisReady(createRedis(url(), { blocking: true, name: "stats-first", stats }));
    const second = await redisReady(createRedis(url(), { blocking: true, name: "stats-second", stats }));
    open.push(first, second);
    const before = stats.byConnection();
    await first.pipeline().set("stats:k", "1").get("stats:k").exec();
    await second.get("stats:k");
    await second.get("stats:k");
    const grew = (name: string) => {
      const after = stats.byConnection().get(name)!;
      const was = before.get(name) ?? { writes: 0, commands: 0 };
      return { writes: after.writes - was.writes, commands: after.commands - was.commands };
    };
    expect(grew("stats-first")).toEqual({ writes: 1, commands: 2 });
    expect(grew("stats-second")).toEqual({ writes: 2, commands: 2 });
    const all = [...stats.byConnection().values()].reduce((sum, t) => ({ writes: sum.writes + t.writes, commands: sum.commands + t.commands }), { writes: 0, commands: 0 });
    expect(all).toEqual(stats.snapshot());
  });

  it("counts nothing without stats, and leaves replies as they were", async () => {
    const stats = new RedisStats();
    const counted = await connect({ blocking: true, stats });
    const plain = await connect({ blocking: true });
    await plain.set("stats:h", "v");
    expect(stats.snapshot()).toEqual({ writes: 0, commands: 0 });
    expect(await counted.get("stats:h")).toBe("v");
    expect(await counted.pipeline().get("stats:h").incr("stats:i").exec()).toEqual([
      [null, "v"],
      [null, expect.any(Number)],
    ]);
  });
});
