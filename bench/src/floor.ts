import { type Service, startService, waitForOutput } from "./processes";
import { type BenchStack, UPSTREAM_MODEL, queueOf } from "./stack";

/**
 * The design floor's two processes (edge and runner, `floor-main.ts`), on the bench's Postgres, Redis and
 * fixture: figures 8 and 9 send it waited completions, figure 4 streams.
 */
export async function startFloor(stack: BenchStack): Promise<{ url: string; services: Service[] }> {
  const env = floorEnv(stack);
  const runner = startService("floor runner", "bench/src/floor-main.ts", env, [], ["runner"]);
  const edge = startService("floor edge", "bench/src/floor-main.ts", env, [], ["edge"]);
  await waitForOutput(runner, "FLOOR runner");
  return { url: await waitForOutput(edge, "FLOOR "), services: [edge, runner] };
}

/**
 * The design floor's edge alone, its HTTP served by Express (`FLOOR_HTTP=express`): figure 1's submits
 * (which no runner takes) through the framework issue 13 keeps.
 */
export async function startExpressFloorEdge(stack: BenchStack): Promise<{ url: string; service: Service }> {
  const edge = startService("floor edge (Express)", "bench/src/floor-main.ts", { ...floorEnv(stack), FLOOR_PREFIX: `bench-floor-express:${process.pid}`, FLOOR_HTTP: "express" }, [], ["edge"]);
  return { url: await waitForOutput(edge, "FLOOR "), service: edge };
}

function floorEnv(stack: BenchStack): Record<string, string> {
  return {
    DATABASE_URL: stack.databaseUrl,
    REDIS_URL: stack.redisUrl,
    FIXTURE_URL: stack.fixtureUrl,
    FLOOR_PREFIX: `bench-floor:${process.pid}`,
    FLOOR_OWNER_ID: stack.baselineOwnerId,
    FLOOR_QUEUE: queueOf(UPSTREAM_MODEL),
  };
}
