import { Cluster, type ClusterOptions, Redis, type RedisOptions } from "ioredis";
import { installLeanPipelines } from "./lean-pipelines";
import type { RedisStats } from "./redis-stats";

/** A connection to one Redis, or to a Redis Cluster (REDIS_CLUSTER_NODES): both speak every command llmq sends. */
export type RedisConnection = Redis | Cluster;

/** One seed node of a Redis Cluster. */
export interface ClusterSeed {
  host: string;
  port: number;
}

/**
 * Where Redis is: one server (`url`, REDIS_URL: `redis://[user:password@]host:port[/db]`, `rediss://` for
 * TLS), or a Redis Cluster reached through any of its seed nodes (REDIS_CLUSTER_NODES); the cluster's
 * password, user and TLS are those the first seed's URL form gives (`rediss://user:password@host:port`).
 */
export type RedisTarget = { url: string } | { cluster: readonly ClusterSeed[]; username?: string; password?: string; tls?: boolean };

/** True when `redis` is a Redis Cluster client: its multi-key calls must then stay within one hash slot. */
export function isCluster(redis: RedisConnection): redis is Cluster {
  return (redis as { isCluster?: boolean }).isCluster === true;
}

/**
 * Reads REDIS_CLUSTER_NODES: comma-separated seeds, each `host:port` or `redis://[user:password@]host:port`
 * (`rediss://` for TLS). Credentials and TLS come from the first seed that names them, for every node.
 * Throws a message naming the bad entry.
 */
export function parseClusterNodes(value: string): Extract<RedisTarget, { cluster: readonly ClusterSeed[] }> {
  const entries = value.split(",").map((entry) => entry.trim()).filter(Boolean);
  if (entries.length === 0) throw new Error("REDIS_CLUSTER_NODES: give at least one host:port");
  const target: { cluster: ClusterSeed[]; username?: string; password?: string; tls?: boolean } = { cluster: [] };
  for (const entry of entries) {
    const url = (() => {
      try {
        return new URL(/^[a-z]+:\/\//i.test(entry) ? entry : `redis://${entry}`);
      } catch {
        return null;
      }
    })();
    const port = Number(url?.port);
    if (!url || !/^rediss?:$/.test(url.protocol) || !url.hostname || !Number.isInteger(port) || port < 1 || port > 65_535 || (url.pathname !== "" && url.pathname !== "/")) {
      throw new Error(`REDIS_CLUSTER_NODES: '${entry}' is not host:port (or redis://[user:password@]host:port)`);
    }
    target.cluster.push({ host: url.hostname.replace(/^\[|\]$/g, ""), port });
    if (url.protocol === "rediss:") target.tls ??= true;
    if (url.password && target.password === undefined) {
      target.password = decodeURIComponent(url.password);
      if (url.username) target.username = decodeURIComponent(url.username);
    }
  }
  return target;
}

/** How a connection behaves per call; see createRedis. */
export interface ConnectionOptions {
  blocking?: boolean;
  name?: string;
  stats?: RedisStats;
  autoPipeline?: boolean;
}

/**
 * A new ioredis connection, to one Redis or (a `cluster` target) a Redis Cluster. `blocking` connections
 * (BullMQ workers, subscribers) must retry forever (`maxRetriesPerRequest: null`); command connections
 * used on request paths fail fast so an API can answer 503 while Redis is down, and auto-pipeline: the
 * commands of concurrent requests issued in one event-loop tick go out in one write, one round trip (on a
 * cluster: one per master they touch; `autoPipeline` asks the same of a blocking one that never blocks:
 * a worker's command connection). With `stats` (REDIS_STATS=1) its commands and writes are counted there.
 * The process's ioredis pipelines are made collectable by young collections first (lean-pipelines.ts).
 */
export function createRedis(url: string, options?: ConnectionOptions): Redis;
export function createRedis(target: string | RedisTarget, options?: ConnectionOptions): RedisConnection;
export function createRedis(target: string | RedisTarget, options: ConnectionOptions = {}): RedisConnection {
  installLeanPipelines();
  const base: RedisOptions = {
    connectionName: options.name,
    lazyConnect: false,
    retryStrategy: (times) => Math.min(times * 200, 2_000),
  };
  const perCall: RedisOptions = options.blocking
    ? { maxRetriesPerRequest: null, enableOfflineQueue: true, enableAutoPipelining: options.autoPipeline ?? false }
    : { maxRetriesPerRequest: 1, enableOfflineQueue: false, connectTimeout: 2_000, enableAutoPipelining: true };
  const resolved = typeof target === "string" ? { url: target } : target;
  const redis = "url" in resolved ? new Redis(resolved.url, { ...base, ...perCall }) : newCluster(resolved, options.name, perCall);
  return options.stats ? options.stats.observe(redis) : redis;
}

/**
 * A Cluster client with the same behaviour per call: a fail-fast one rides out a failover by retrying a
 * command on the new master (`retryDelayOnFailover`, `retryDelayOnClusterDown`) instead of answering 503
 * for the seconds a replica takes to be promoted, and refreshes its slot map after MOVED.
 */
function newCluster(target: Extract<RedisTarget, { cluster: readonly ClusterSeed[] }>, name: string | undefined, perCall: RedisOptions): Cluster {
  const options: ClusterOptions = {
    enableOfflineQueue: perCall.enableOfflineQueue,
    enableAutoPipelining: perCall.enableAutoPipelining,
    clusterRetryStrategy: (times) => Math.min(times * 200, 2_000),
    retryDelayOnFailover: 200,
    retryDelayOnClusterDown: 200,
    retryDelayOnTryAgain: 100,
    slotsRefreshTimeout: 2_000,
    // Redis answers MOVED while a failover settles: refresh then, and every few seconds anyway.
    slotsRefreshInterval: 2_000,
    redisOptions: {
      connectionName: name,
      maxRetriesPerRequest: perCall.maxRetriesPerRequest,
      connectTimeout: perCall.connectTimeout ?? 10_000,
      username: target.username,
      password: target.password,
      ...(target.tls ? { tls: {} } : {}),
    },
  };
  const cluster = new Cluster(
    target.cluster.map((seed) => ({ host: seed.host, port: seed.port })),
    options,
  );
  return cluster;
}

/** True when Redis answers PING (readiness probe). */
export async function pingRedis(redis: RedisConnection): Promise<boolean> {
  try {
    return (await redis.ping()) === "PONG";
  } catch {
    return false;
  }
}

/**
 * Closes a connection for good: QUIT when Redis answers, otherwise drop it at once (QUIT on a down
 * Redis fails or waits in the offline queue, and the connection would keep reconnecting forever).
 */
export async function closeRedis(redis: RedisConnection): Promise<void> {
  // Already closed (a blocking connection its loop cut to stop a wait): disconnecting again would start
  // ioredis's 2 s "destroy the socket" timer on a socket that has already closed, so nothing clears it and
  // it holds the process's exit for 2 s.
  if (redis.status === "end") return;
  if (redis.status === "ready") {
    try {
      await redis.quit();
      return;
    } catch {
      // Lost on the way out: fall through and drop it.
    }
  }
  redis.disconnect(false);
}

/** ioredis's ways of saying Redis is out of reach (a fail-fast command connection while it is down). */
const UNAVAILABLE_MESSAGE = /Connection is closed|Stream isn't writeable|Reached the max retries per request limit|Cluster isn't ready|Failed to refresh slots cache|None of startup nodes is available|CLUSTERDOWN/;

/** True when `error` says Redis could not be reached, not that a command was wrong. */
export function isRedisUnavailable(error: unknown): boolean {
  const { name, message } = (error ?? {}) as { name?: unknown; message?: unknown };
  return name === "MaxRetriesPerRequestError" || name === "ClusterAllFailedError" || (typeof message === "string" && UNAVAILABLE_MESSAGE.test(message));
}
