import { z } from "zod";
import { type RedisTarget, parseClusterNodes } from "./connection";

/** An optional variable; set but empty (as docker compose passes `${VAR:-}`) counts as unset. */
const unlessEmpty = <T extends z.ZodType>(schema: T) => z.preprocess((value) => (value === "" ? undefined : value), schema.optional());

/**
 * Where Redis is, as every server process reads it (spread into the apps' env schemas; check the pair
 * with `hasRedisTarget`): `REDIS_URL`, one Redis, or `REDIS_CLUSTER_NODES`, seed nodes of a Redis
 * Cluster (`host:port,host:port,...`); when the cluster is named, REDIS_URL is not used.
 */
export const redisTargetEnv = {
  REDIS_URL: unlessEmpty(z.string().url()),
  REDIS_CLUSTER_NODES: unlessEmpty(
    z.string().transform((value, ctx) => {
      try {
        return parseClusterNodes(value);
      } catch (error) {
        ctx.addIssue({ code: "custom", message: (error as Error).message });
        return z.NEVER;
      }
    }),
  ),
};

type RedisTargetEnv = { REDIS_URL?: string; REDIS_CLUSTER_NODES?: Extract<RedisTarget, { cluster: unknown }> };

/** The refinement the apps' schemas add: one of the two is set. */
export const hasRedisTarget: [(env: RedisTargetEnv) => boolean, { message: string; path: string[] }] = [
  (env) => env.REDIS_URL !== undefined || env.REDIS_CLUSTER_NODES !== undefined,
  { message: "set REDIS_URL (one Redis) or REDIS_CLUSTER_NODES (a Redis Cluster's seed nodes)", path: ["REDIS_URL"] },
];

/** The Redis the parsed variables name: the cluster when REDIS_CLUSTER_NODES is set, else REDIS_URL. */
export function redisTargetOf(env: RedisTargetEnv): RedisTarget {
  if (env.REDIS_CLUSTER_NODES) return env.REDIS_CLUSTER_NODES;
  if (env.REDIS_URL) return { url: env.REDIS_URL };
  throw new Error("set REDIS_URL or REDIS_CLUSTER_NODES");
}
