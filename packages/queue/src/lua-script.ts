import { createHash } from "node:crypto";
import type { RedisConnection } from "./connection";

/** An argument of a script call: a key or an ARGV value. */
export type ScriptArg = string | number;

/** True for Redis's answer to an EVALSHA whose script it does not hold (restarted, promoted replica, SCRIPT FLUSH). */
export function isNoScript(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith("NOSCRIPT");
}

/**
 * One of our Lua scripts: its text, its SHA1 (computed here) and how many KEYS it takes (`null`: the
 * caller passes the count first, for scripts on a variable number of keys). A call is EVALSHA; when Redis
 * answers NOSCRIPT the same call is sent once as EVAL (safe: NOSCRIPT means the script did not run).
 *
 * Why not ioredis's `defineCommand`: every pipeline ioredis builds (one per round trip with
 * auto-pipelining) copies each command defined on its connection onto itself (two properties per script
 * plus a SHA map), about a third of the bytes an API or worker process allocated (docs/performance.md,
 * "Issue 13, last round: tail"). A script here lives once, in this object, whatever the connections.
 * Calls auto-pipeline and route by their first key on a Cluster as any EVALSHA does.
 */
export class LuaScript<R> {
  readonly sha: string;

  constructor(
    readonly lua: string,
    readonly numberOfKeys: number | null,
  ) {
    this.sha = createHash("sha1").update(lua).digest("hex");
  }

  /** Runs the script on `redis` with `args` (keys, then ARGV; led by the key count when numberOfKeys is null). */
  async run(redis: RedisConnection, ...args: ScriptArg[]): Promise<R> {
    const [numberOfKeys, ...rest] = this.counted(args);
    try {
      return (await redis.evalsha(this.sha, numberOfKeys, ...rest)) as R;
    } catch (error) {
      if (!isNoScript(error)) throw error;
      return (await redis.eval(this.lua, numberOfKeys, ...rest)) as R;
    }
  }

  /** The EVALSHA command of a call with `args` (as `run` takes them), for sendEach. */
  evalsha(args: readonly ScriptArg[]): [string, ...ScriptArg[]] {
    return ["evalsha", this.sha, ...this.counted(args)];
  }

  /** The EVAL command of the same call: what a NOSCRIPT answer is followed by. */
  eval(args: readonly ScriptArg[]): [string, ...ScriptArg[]] {
    return ["eval", this.lua, ...this.counted(args)];
  }

  /** A call's arguments led by the key count, as EVAL and EVALSHA take them. */
  private counted(args: readonly ScriptArg[]): [number, ...ScriptArg[]] {
    return (this.numberOfKeys === null ? args : [this.numberOfKeys, ...args]) as [number, ...ScriptArg[]];
  }
}
