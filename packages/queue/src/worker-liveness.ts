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

// KEYS: a BullMQ queue's active list. ARGV: the queue's key prefix. Returns job id, lock token, ... of its
// active jobs that hold a lock (all in the queue's hash slot).
const LOCKS = `
local out = {}
for _, jobId in ipairs(redis.call("LRANGE", KEYS[1], 0, -1)) do
  local token = redis.call("GET", ARGV[1] .. jobId .. ":lock")
  if token then out[#out + 1] = jobId; out[#out + 1] = token end
end
return out`;

// KEYS: active list, stalled set, stalled-check key. ARGV: the queue's key prefix, then job id, lock token
// pairs of jobs whose owner was judged dead. Frees each lock still holding that token (a job finished or
// taken by another worker meanwhile is left alone), marks the job as stalling and clears the
// stalled-check throttle, so the next stalled check moves it back to wait.
const RELEASE = `
local released = {}
for i = 2, #ARGV, 2 do
  local lockKey = ARGV[1] .. ARGV[i] .. ":lock"
  if redis.call("GET", lockKey) == ARGV[i + 1] then
    redis.call("DEL", lockKey)
    redis.call("SADD", KEYS[2], ARGV[i])
    released[#released + 1] = ARGV[i]
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

  /**
   * Releases the active jobs of `worker`'s queue held by dead workers (their lock token is
   * "<worker id>:<n>"), and runs the stalled check now if any; returns their ids. Three steps, each on one
   * hash slot (the queue's, the beats', the queue's), so it runs on a Redis Cluster too: read the locks,
   * judge their owners, free the locks that still hold the token read. A job whose owner never beat is
   * left alone. An idle queue costs one round trip, a busy one with every owner alive two.
   */
  async reap(worker: Worker): Promise<string[]> {
    const prefix = worker.toKey("");
    const locks = (await this.redis.eval(LOCKS, 1, worker.keys.active!, prefix)) as string[];
    const owners = new Map<string, [string, string][]>();
    for (let i = 0; i + 1 < locks.length; i += 2) {
      const owner = /^(.+):\d+$/.exec(locks[i + 1]!)?.[1];
      if (owner) owners.set(owner, [...(owners.get(owner) ?? []), [locks[i]!, locks[i + 1]!]]);
    }
    if (owners.size === 0) return [];
    const dead = await this.deadAmong([...owners.keys()]);
    if (dead.length === 0) return [];
    const pairs = dead.flatMap((owner) => owners.get(owner)!.flat());
    const released = (await this.redis.eval(RELEASE, 3, worker.keys.active!, worker.keys.stalled!, worker.keys["stalled-check"]!, prefix, ...pairs)) as string[];
    if (released.length > 0) await worker.startStalledCheckTimer();
    return released;
  }
}
