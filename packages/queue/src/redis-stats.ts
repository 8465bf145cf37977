import type { Cluster, Redis } from "ioredis";
import { Counter, type Registry } from "prom-client";

export interface RedisTraffic {
  /** Socket writes (round trips started): one per lone command, per pipeline or MULTI block, per auto-pipelined tick. */
  writes: number;
  /** Commands sent, each command of a pipeline or MULTI block (MULTI and EXEC included) counted. */
  commands: number;
}

/**
 * What a process's connections send to Redis, counted when REDIS_STATS=1 (off by default): the bench
 * reads it before and after a workload to count round trips and commands per task. ioredis writes a
 * command alone, or a pipeline, a MULTI block or the commands auto-pipelined in one tick (all three
 * are ioredis pipelines), with one socket write and then waits for the replies: a write is one round
 * trip started. Writes are counted where ioredis sends a command (`sendCommand`): one per lone command,
 * one per pipeline (its commands share one pipeline stream object), not by wrapping the socket, so a
 * CPU profile still charges socket writes to ioredis. Only connections that are ready are counted
 * (their set-up, AUTH or CLIENT SETNAME, is not per task); a command queued while Redis is away is
 * counted when it is sent. Cost: an increment or two per command; nothing sent or answered changes.
 */
export class RedisStats {
  /** The traffic by connection name (CLIENT SETNAME: ours name theirs, BullMQ names its own); the process's is their sum. */
  private readonly connections = new Map<string, RedisTraffic>();
  /** Pipelines already counted (ioredis gives all the commands of one exec the same stream object). */
  private readonly pipelines = new WeakSet<object>();

  snapshot(): RedisTraffic {
    const all = { writes: 0, commands: 0 };
    for (const traffic of this.connections.values()) {
      all.writes += traffic.writes;
      all.commands += traffic.commands;
    }
    return all;
  }

  /** The traffic so far of each connection name (connections sharing a name are counted together). */
  byConnection(): Map<string, RedisTraffic> {
    return new Map([...this.connections].map(([name, traffic]) => [name, { ...traffic }]));
  }

  /** The traffic since `before` (a snapshot). */
  since(before: RedisTraffic): RedisTraffic {
    const now = this.snapshot();
    return { writes: now.writes - before.writes, commands: now.commands - before.commands };
  }

  /** Counts `redis`'s traffic from now on, and that of connections duplicated from it (BullMQ duplicates a worker's). */
  observe<T extends Redis | Cluster>(redis: T): T {
    const { pipelines } = this;
    const own = this.trafficOf(connectionName(redis));
    // A Cluster client routes each command (and each pipeline, per node) through its own sendCommand.
    const target = redis as unknown as Redis;
    const send = target.sendCommand;
    target.sendCommand = function (this: Redis, command: Parameters<Redis["sendCommand"]>[0], stream?: Parameters<Redis["sendCommand"]>[1], ...rest: unknown[]) {
      if (redis.status === "ready") {
        own.commands++;
        const pipeline = (stream as { isPipeline?: boolean } | undefined)?.isPipeline === true;
        if (!pipeline || !pipelines.has(stream!)) {
          if (pipeline) pipelines.add(stream!);
          own.writes++;
        }
      }
      return (send as (...args: unknown[]) => unknown).call(this, command, stream, ...rest) as ReturnType<Redis["sendCommand"]>;
    };
    const duplicate = target.duplicate as (...args: unknown[]) => Redis | Cluster;
    (target as { duplicate: unknown }).duplicate = (...args: unknown[]) => this.observe(duplicate.apply(redis, args));
    return redis;
  }

  private trafficOf(name: string): RedisTraffic {
    let traffic = this.connections.get(name);
    if (!traffic) this.connections.set(name, (traffic = { writes: 0, commands: 0 }));
    return traffic;
  }
}

/** The name a connection gives itself with CLIENT SETNAME (a Cluster client: its nodes' connections). */
function connectionName(redis: Redis | Cluster): string {
  const options = redis.options as { connectionName?: string; redisOptions?: { connectionName?: string } };
  return options.connectionName ?? options.redisOptions?.connectionName ?? "unnamed";
}

/**
 * Serves `stats` on `registry` as `llmq_redis_sent_total{kind="commands"|"writes",connection}`, read at
 * scrape time: one series per connection name, so `sum by (kind)` is the process's whole traffic.
 */
export function countRedisTraffic(registry: Registry, stats: RedisStats): void {
  new Counter({
    name: "llmq_redis_sent_total",
    help: "Redis commands and socket writes of this process by connection name (a write is one round trip started: a pipeline, MULTI block or auto-pipelined tick is one); REDIS_STATS=1",
    labelNames: ["kind", "connection"] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const [connection, sent] of stats.byConnection()) {
        this.inc({ kind: "commands", connection }, sent.commands);
        this.inc({ kind: "writes", connection }, sent.writes);
      }
    },
  });
}
