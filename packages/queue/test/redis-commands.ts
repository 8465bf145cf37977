import type { RedisConnection } from "../src";

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
