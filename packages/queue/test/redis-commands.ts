import { type PrivateRedis, startPrivateRedis } from "@llmq/testkit";
import { type RedisConnection, closeRedis, createRedis } from "../src";

/**
 * Commands Redis ran while `run` ran, scripts' inner commands included (EVALSHA/EVAL and INFO left out),
 * from INFO commandstats: use a Redis of the suite's own, so no other suite's commands count.
 */
export async function commandsDuring(redis: RedisConnection, run: () => Promise<unknown>): Promise<number> {
  const read = async () => {
    let total = 0;
    for (const line of (await redis.info("commandstats")).split("\r\n")) {
      const match = /^cmdstat_([^:]+):calls=(\d+)/.exec(line);
      if (match && !["info", "evalsha", "eval", "script"].includes(match[1]!)) total += Number(match[2]);
    }
    return total;
  };
  const before = await read();
  await run();
  return (await read()) - before;
}

/**
 * A cost suite's Redis of its own (started before its tests, destroyed after), and `commandsDuring`
 * bound to it. Call at the top of the suite file; read `redis()` inside tests.
 */
export function costSuiteRedis(): { redis: () => RedisConnection; commandsDuring: (run: () => Promise<unknown>) => Promise<number> } {
  let server: PrivateRedis | undefined;
  let redis: RedisConnection | undefined;
  beforeAll(async () => {
    server = await startPrivateRedis();
    redis = createRedis(server.url, { blocking: true });
  }, 60_000);
  afterAll(async () => {
    if (redis) await closeRedis(redis);
    await server?.destroy();
  });
  const connection = () => {
    if (!redis) throw new Error("the cost suite's Redis is not started yet");
    return redis;
  };
  return { redis: connection, commandsDuring: (run) => commandsDuring(connection(), run) };
}
