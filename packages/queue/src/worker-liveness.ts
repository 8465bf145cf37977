import type { Worker } from "bullmq";
import type { RedisConnection } from "./connection";
import type { KeySpace } from "./keys";

/** A beat lives a day: long enough to tell "stopped beating" from "never used liveness" (left to BullMQ's lock timeout). */
const BEAT_TTL_SECONDS = 24 * 3600;

// Redis time, so the workers' clocks never need to agree.
const BEAT = `
local t = redis.call("TIME")
local now = t[1] * 1000 + math.floor(t[2] / 1000)
for i, key in ipairs(KEYS) do redis.call("SET", key, ARGV[1] == "gone" and "0" or tostring(now), "EX", ARGV[2]) end
return now`;

// KEYS: active list, stalled set, stalled-check key. ARGV: the queue's key prefix, the beat key prefix and
// suffix, deadAfterMs. Frees the lock of every active job whose owner's beat is older than deadAfterMs
// (its lock token is "<worker id>:<n>"), marks the job as stalling and clears the stalled-check
// throttle, so the next stalled check moves it back to wait. A job whose owner never beat is left alone.
const REAP = `
local t = redis.call("TIME")
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local released = {}
for _, jobId in ipairs(redis.call("LRANGE", KEYS[1], 0, -1)) do
  local lockKey = ARGV[1] .. jobId .. ":lock"
  local token = redis.call("GET", lockKey)
  local owner = token and string.match(token, "^(.+):%d+$")
  if owner then
    local beat = redis.call("GET", ARGV[2] .. owner .. ARGV[3])
    if beat and now - tonumber(beat) > tonumber(ARGV[4]) then
      redis.call("DEL", lockKey)
      redis.call("SADD", KEYS[2], jobId)
      table.insert(released, jobId)
    end
  end
end
if #released > 0 then redis.call("DEL", KEYS[3]) end
return released`;

// KEYS: beat keys of the workers to judge. ARGV: deadAfterMs. Returns the indexes (1-based) of those whose
// beat is older than deadAfterMs, or "0" (stopped). A worker that never beat (no key) is left alone.
const DEAD_AMONG = `
local t = redis.call("TIME")
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local dead = {}
for i, key in ipairs(KEYS) do
  local beat = redis.call("GET", key)
  if beat and now - tonumber(beat) > tonumber(ARGV[1]) then table.insert(dead, i) end
end
return dead`;

/**
 * Heartbeats of BullMQ Workers in Redis, so a live worker can tell at once that another one died
 * (SIGKILL, OOM, a lost host) and hand its jobs on, instead of waiting for their locks to run out.
 * Safe because every write of a task is fenced by its attempt number: a worker wrongly thought dead
 * (paused past the limit) only loses its attempt.
 */
export class WorkerLiveness {
  constructor(
    private readonly redis: RedisConnection,
    private readonly keys: KeySpace,
    private readonly deadAfterMs: number,
  ) {}

  /** Records that these workers are alive now. */
  async beat(workerIds: readonly string[]): Promise<void> {
    await this.redis.eval(BEAT, workerIds.length, ...workerIds.map((id) => this.keys.workerBeat(id)), "alive", BEAT_TTL_SECONDS);
  }

  /** Records that these workers stopped: their leftover jobs are free to take at once. */
  async markGone(workerIds: readonly string[]): Promise<void> {
    await this.redis.eval(BEAT, workerIds.length, ...workerIds.map((id) => this.keys.workerBeat(id)), "gone", BEAT_TTL_SECONDS);
  }

  /** Those of `workerIds` (run-queue lease holders) that stopped beating, or said they stopped. */
  async deadAmong(workerIds: readonly string[]): Promise<string[]> {
    if (workerIds.length === 0) return [];
    const dead = (await this.redis.eval(DEAD_AMONG, workerIds.length, ...workerIds.map((id) => this.keys.workerBeat(id)), this.deadAfterMs)) as number[];
    return dead.map((index) => workerIds[index - 1]!);
  }

  /** Releases the active jobs of `worker`'s queue held by dead workers, and runs the stalled check now if any; returns their ids. */
  async reap(worker: Worker): Promise<string[]> {
    const [beatPrefix, beatSuffix] = this.keys.workerBeat("\u0000").split("\u0000") as [string, string];
    const released = (await this.redis.eval(
      REAP,
      3,
      worker.keys.active!,
      worker.keys.stalled!,
      worker.keys["stalled-check"]!,
      worker.toKey(""),
      beatPrefix,
      beatSuffix,
      this.deadAfterMs,
    )) as string[];
    if (released.length > 0) await worker.startStalledCheckTimer();
    return released;
  }
}
