import type { RedisConnection } from "../connection";
import { LuaScript } from "../lua-script";

/** Each run queue script once per process (its SHA1 computed once), whichever queues and connections call it. */
const scripts = new Map<string, LuaScript<unknown>>();

function scriptOf(lua: string): LuaScript<unknown> {
  let script = scripts.get(lua);
  if (!script) scripts.set(lua, (script = new LuaScript<unknown>(lua, 6)));
  return script;
}

/**
 * A family of the run queue's Lua scripts as functions calling them on `redis` (each on the six KEYS every
 * run queue script takes): EVALSHA, EVAL after a NOSCRIPT (lua-script.ts). Nothing is defined on the
 * connection, so its pipelines stay small. `S` names each script's function and its reply.
 */
export function bindScripts<S extends { [name: string]: (...args: string[]) => Promise<unknown> }>(redis: RedisConnection, family: { [K in keyof S]: string }): S {
  const bound: Record<string, (...args: string[]) => Promise<unknown>> = {};
  for (const [name, lua] of Object.entries<string>(family)) {
    const script = scriptOf(lua);
    bound[name] = (...args: string[]) => script.run(redis, ...args);
  }
  return bound as S;
}
