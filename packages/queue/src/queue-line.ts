import type { ChainableCommander } from "ioredis";
import type { RedisConnection } from "./connection";

/** Where a waiting job stands in its queue. */
export interface LinePlace {
  /** Jobs that a worker will take before this one (0 = next). */
  ahead: number;
  /** Jobs running now. */
  active: number;
}

/**
 * A job's place in line without scanning the line (LPOS over BullMQ's wait list was O(queue length) per
 * poll). BullMQ LPUSHes a new job onto `wait` and workers take jobs from the other end, so the jobs ahead
 * of a waiting job J are the wait list minus J and the jobs pushed after J that are still there:
 *
 *     ahead(J) = LLEN(wait) - 1 - behind(J)
 *     behind(J) = (seq - ticket(J)) - (removed with a later ticket) + (re-entered with a later ticket)
 *
 * - At enqueue, in the same MULTI as BullMQ's add (so no other client's push comes between), STAMP gives a
 *   job that the add just pushed the next ticket of the queue's counter `seq` (INCR), kept in the job's
 *   own hash (field `lqt`): it goes when BullMQ removes the job. O(1), no extra round trip.
 * - Workers need no hook: a job taken from the front shrinks LLEN and was behind nobody. BullMQ counts
 *   every start in the job's `ats` field; a stamp is valid while `ats` is what it was at stamping (`lqa`),
 *   i.e. while the job has not left the wait list since.
 * - A waiting job removed (a cancel: TaskQueues.removeWaiting) is recorded by GONE in the `gone` sorted set
 *   (score = its ticket), so the jobs pushed before it stop counting it behind them. O(log n).
 * - A job that re-entered the wait list (a retry after its backoff, a stalled job put back) carries a stale
 *   stamp. Its first poll finds it with LPOS (O(jobs behind it): it re-enters at the back), then re-stamps
 *   it with a ticket between its neighbours' and records it in `late`; later polls are O(log n) again.
 * - Batch items wait apart, by priority, in the `prioritized` sorted set, taken only once `wait` is empty:
 *   LLEN(wait) + ZRANK, exact and O(log n) as before.
 *
 * Exact for interactive jobs under submits from any number of processes, worker starts and cancels. Off by
 * one for each job that re-entered the line behind J and has not been polled since (it is in LLEN but not
 * counted behind J), and for a job enqueued without STAMP (an enqueue path that bypasses TaskQueues).
 * `gone` and `late` entries older than the oldest waiting job's ticket are pruned on every write.
 */
export class QueueLine {
  private readonly commands: LineCommands;

  constructor(
    redis: RedisConnection,
    /** BullMQ's prefix (KeySpace.bull). */
    private readonly prefix: string,
  ) {
    this.commands = lineCommands(redis);
  }

  private key(queueName: string, suffix: string): string {
    return `${this.prefix}:${queueName}:${suffix}`;
  }

  /**
   * The job's place, or null when it is not waiting (running, delayed for a retry, finished, gone): one
   * script, O(log n) in the queue's length (see the class comment).
   */
  async place(queueName: string, jobId: string): Promise<LinePlace | null> {
    const keys = lineKeys(this.prefix, queueName);
    const result = await this.commands.llmqLinePlace(
      keys.wait,
      keys.prioritized,
      keys.active,
      keys.seq,
      keys.gone,
      keys.late,
      keys.delayed,
      keys.job(jobId),
      jobId,
      keys.jobPrefix,
    );
    if (!result) return null;
    const [ahead, active] = result;
    return { ahead: Number(ahead), active: Number(active) };
  }

  /** Run times (ms) of up to `limit` jobs that completed last, newest first, from the jobs BullMQ keeps. */
  async recentDurationsMs(queueName: string, limit: number): Promise<number[]> {
    const ids = await this.commands.zrevrange(this.key(queueName, "completed"), 0, limit - 1);
    if (ids.length === 0) return [];
    const pipeline = this.commands.pipeline();
    for (const id of ids) pipeline.hmget(this.key(queueName, id), "processedOn", "finishedOn");
    const rows = (await pipeline.exec()) ?? [];
    const durations: number[] = [];
    for (const [error, value] of rows) {
      const [processedOn, finishedOn] = (error ? [] : (value as (string | null)[])).map(Number);
      if (processedOn && finishedOn && finishedOn >= processedOn) durations.push(finishedOn - processedOn);
    }
    return durations;
  }
}

/** The keys of one queue's line: BullMQ's (`wait`, `prioritized`, `active`, `delayed`, job hashes) and ours. */
export function lineKeys(prefix: string, queueName: string) {
  const base = `${prefix}:${queueName}:`;
  return {
    wait: `${base}wait`,
    prioritized: `${base}prioritized`,
    active: `${base}active`,
    delayed: `${base}delayed`,
    /** Tickets given so far (a counter). */
    seq: `${base}line:seq`,
    /** Tickets of waiting jobs that were removed (cancelled), by ticket. */
    gone: `${base}line:gone`,
    /** Jobs re-stamped after re-entering the line, by their (fractional) ticket. */
    late: `${base}line:late`,
    jobPrefix: base,
    job: (jobId: string) => `${base}${jobId}`,
  };
}

/**
 * Appends STAMP for `jobId` to a MULTI, right after the command that adds the job: when that add pushed the
 * job onto the wait list, the job gets the queue's next ticket. Used by TaskQueues for every job that goes
 * to the wait list (no priority, no delay).
 */
export function stampTicket(transaction: ChainableCommander, prefix: string, queueName: string, jobId: string): void {
  const keys = lineKeys(prefix, queueName);
  (transaction as unknown as LineTransaction).llmqLineStamp(keys.seq, keys.job(jobId), keys.wait, keys.gone, keys.late, jobId);
}

/**
 * Before a waiting job is removed (TaskQueues.removeWaiting): records its ticket as gone. Were a worker to
 * take the job in between (the removal then fails), the record is harmless: a taken job was ahead of
 * every waiting job, and only jobs with a smaller ticket count it.
 */
export async function recordRemoval(redis: RedisConnection, prefix: string, queueName: string, jobId: string): Promise<void> {
  const keys = lineKeys(prefix, queueName);
  await lineCommands(redis).llmqLineGone(keys.job(jobId), keys.gone, keys.late, keys.wait, jobId, keys.jobPrefix);
}

// Shared by the scripts: a stamp is valid while the job has not been started since it was given.
const LUA_VALID = `
local function valid(fields) return fields[1] and (tonumber(fields[2]) or 0) == (tonumber(fields[3]) or 0) end
local function prune(wait, gone, late, jobPrefix)
  local oldest = redis.call('LINDEX', wait, -1)
  if not oldest then redis.call('DEL', gone, late) return end
  local o = redis.call('HMGET', jobPrefix .. oldest, 'lqt', 'lqa', 'ats')
  if valid(o) then
    redis.call('ZREMRANGEBYSCORE', gone, '-inf', '(' .. o[1])
    redis.call('ZREMRANGEBYSCORE', late, '-inf', '(' .. o[1])
  end
end
`;

/** KEYS: seq, job hash, wait, gone, late. ARGV: job id. The job gets a ticket if the add just pushed it. */
const STAMP = `
if redis.call('LINDEX', KEYS[3], 0) ~= ARGV[1] then return 0 end
if redis.call('HEXISTS', KEYS[2], 'lqt') == 1 then return 0 end
local ticket = redis.call('INCR', KEYS[1])
redis.call('HSET', KEYS[2], 'lqt', ticket)
if redis.call('LLEN', KEYS[3]) == 1 then redis.call('DEL', KEYS[4], KEYS[5]) end
return ticket
`;

/** KEYS: job hash, gone, late, wait. ARGV: job id, job key prefix. */
const GONE = `${LUA_VALID}
local f = redis.call('HMGET', KEYS[1], 'lqt', 'lqa', 'ats')
if not valid(f) then return 0 end
if redis.call('ZREM', KEYS[3], ARGV[1]) == 0 then redis.call('ZADD', KEYS[2], f[1], ARGV[1]) end
prune(KEYS[4], KEYS[2], KEYS[3], ARGV[2])
return 1
`;

/**
 * KEYS: wait, prioritized, active, seq, gone, late, delayed, job hash. ARGV: job id, job key prefix.
 * Returns {ahead, active}, or nil when the job is not waiting.
 */
const PLACE = `${LUA_VALID}
if redis.call('EXISTS', KEYS[8]) == 0 then return nil end
local waitLength = redis.call('LLEN', KEYS[1])
local active = redis.call('LLEN', KEYS[3])
local rank = redis.call('ZRANK', KEYS[2], ARGV[1])
if rank then return {waitLength + rank, active} end
local f = redis.call('HMGET', KEYS[8], 'lqt', 'lqa', 'ats', 'finishedOn')
if f[4] then return nil end
local seq = tonumber(redis.call('GET', KEYS[4]) or '0')
if valid(f) then
  local ticket = tonumber(f[1])
  local behind = seq - math.floor(ticket) - redis.call('ZCOUNT', KEYS[5], '(' .. f[1], '+inf') + redis.call('ZCOUNT', KEYS[6], '(' .. f[1], '+inf')
  local ahead = waitLength - 1 - behind
  if ahead < 0 then ahead = 0 end
  if ahead > waitLength - 1 then ahead = waitLength - 1 end
  return {ahead, active}
end
if redis.call('ZSCORE', KEYS[7], ARGV[1]) then return nil end
if redis.call('LPOS', KEYS[3], ARGV[1]) then return nil end
-- Re-entered (or never stamped): find it once, from the back where it re-entered, and re-stamp it.
local index = redis.call('LPOS', KEYS[1], ARGV[1])
if not index then return nil end
local ticket = nil
if index == 0 then
  local newest = seq
  local top = redis.call('ZREVRANGE', KEYS[6], 0, 0, 'WITHSCORES')
  if top[2] and tonumber(top[2]) > newest then newest = tonumber(top[2]) end
  ticket = (newest + seq + 1) / 2
else
  local behindId = redis.call('LINDEX', KEYS[1], index - 1)
  local n = redis.call('HMGET', ARGV[2] .. behindId, 'lqt', 'lqa', 'ats')
  if valid(n) then
    local x = tonumber(n[1])
    local below = math.ceil(x) - 1
    local late = redis.call('ZREVRANGEBYSCORE', KEYS[6], '(' .. n[1], '-inf', 'WITHSCORES', 'LIMIT', 0, 1)
    if late[2] and tonumber(late[2]) > below then below = tonumber(late[2]) end
    ticket = (x + below) / 2
  end
end
if ticket then
  local text = string.format('%.17g', ticket)
  redis.call('HSET', KEYS[8], 'lqt', text, 'lqa', tonumber(f[3]) or 0)
  redis.call('ZADD', KEYS[6], text, ARGV[1])
  prune(KEYS[1], KEYS[5], KEYS[6], ARGV[2])
end
return {waitLength - 1 - index, active}
`;

interface LineTransaction {
  llmqLineStamp(...args: string[]): ChainableCommander;
}

type LineCommands = RedisConnection & {
  llmqLinePlace(...args: string[]): Promise<[number, number] | null>;
  llmqLineGone(...args: string[]): Promise<number>;
  llmqLineStamp(...args: string[]): Promise<number>;
};

/** The connection with the line's scripts defined on it (EVALSHA, loaded on first use; pipelines too). */
export function lineCommands(redis: RedisConnection): LineCommands {
  const commands = redis as LineCommands;
  if (typeof commands.llmqLinePlace !== "function") {
    redis.defineCommand("llmqLinePlace", { numberOfKeys: 8, lua: PLACE });
    redis.defineCommand("llmqLineGone", { numberOfKeys: 4, lua: GONE });
    redis.defineCommand("llmqLineStamp", { numberOfKeys: 5, lua: STAMP });
  }
  return commands;
}
