import type { RedisConnection } from "../connection";

/**
 * Registers a family of the run queue's Lua scripts as commands of `redis` (each on the six KEYS every run
 * queue script takes), once per connection: a family already there is not defined again.
 */
export function defineScripts<C extends RedisConnection>(redis: RedisConnection, scripts: Record<string, string>): C {
  const entries = Object.entries(scripts);
  if (typeof (redis as unknown as Record<string, unknown>)[entries[0]![0]] !== "function") {
    for (const [name, lua] of entries) redis.defineCommand(name, { numberOfKeys: 6, lua });
  }
  return redis as C;
}
