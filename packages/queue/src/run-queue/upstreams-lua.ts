/**
 * Upstream capacity and health (issue 16, part 2): Lua functions included in every run-queue script's
 * prelude (after NOW and BASE are set), used by DISPATCH's capacity hook, SETTLE, RELEASE, expired
 * leases, and RESERVE/REPORT/SNAPSHOT (upstreams-scripts.ts).
 *
 * Keys of upstream <u> (under the model's hash tag, built from BASE like the task hashes):
 *   u:<u>          hash  pu paused until, pk pause kind, ps pause step (ms; 0 after an ok), cb breaker
 *                        (c closed, o open, h half-open), cu open until, pr the probe's task id,
 *                        seq member counter, le/lt last error kind/time
 *   u:<u>:in       zset  task ids holding a concurrency slot -> reservation time (exact: every way out
 *                        of a lease releases it: settle, release, expired lease, RESERVE)
 *   u:<u>:rq       zset  `<task>:<now>:<count>` -> request start (RPM window)
 *   u:<u>:tk       zset  1 s buckets (epoch second) -> bucket start (ms): the TPM window
 *   u:<u>:tv       hash  bucket -> tokens reserved by requests started in it (corrected to real usage at settle)
 *   u:<u>:f        zset  failure times inside the breaker's window
 *   u:<u>:lat      list  latencies of the last 200 ok requests
 *   u:<u>:e:<min>  hash  errors of one minute by kind (expire after 15 min)
 * A task hash holds, while it has a reservation: up (upstream), um (`<bucket>:<tokens>` reserved), upr
 * ('1' if it is the half-open breaker's probe).
 *
 * Windows are sliding: a request started at s counts for every window (t - 60 s, t] holding s. RPM keeps
 * one entry per request (exact: it leaves at s + 60 s). TPM keeps 1 s buckets so the window has at most
 * 61 of them whatever the traffic (every reserve prunes first, so pruning 200 a call is always complete):
 * a bucket counts until its last millisecond leaves the window, up to 1 s longer than the exact window,
 * never shorter, so no 60 s window goes over budget. Every loop is bounded (16 upstreams, 200 buckets).
 * Upstream params come in ARGV (never stored): a count, then 9 fields each (see upstreamArgs).
 *
 * Both count a reservation for ARRIVAL_MARGIN_MS beyond its minute: the reservation is made at dispatch,
 * but the upstream counts the request when it arrives, a moment later (the worker's start, a connection,
 * a busy event loop). Without the margin two requests dispatched 60.0 s apart could arrive 59.9 s apart,
 * and the upstream would see one over budget in its minute.
 */
export const ARRIVAL_MARGIN_MS = 1_000;

/** How long a reservation counts against requests_per_minute / tokens_per_minute: a minute and the margin. */
export const UPSTREAM_COUNTED_MS = 60_000 + ARRIVAL_MARGIN_MS;

export const UPSTREAM_LIB = `
local WINDOW = ${UPSTREAM_COUNTED_MS}
local UP = {}

local function uk(name, suffix) return BASE .. 'u:' .. name .. suffix end

-- Upstream params from ARGV[i] on: count, then name, weight, max concurrency, rpm, tpm, breaker failures,
-- breaker window, breaker cooldown, quota pause ('' = none). Returns the list and the next index.
local function up_params(i)
  local n = math.min(tonumber(ARGV[i]) or 0, 16)
  local list = {}
  for k = 1, n do
    local j = i + 1 + (k - 1) * 9
    list[k] = { name = ARGV[j], weight = tonumber(ARGV[j + 1]) or 1, maxc = tonumber(ARGV[j + 2]),
      rpm = tonumber(ARGV[j + 3]), tpm = tonumber(ARGV[j + 4]), cbn = tonumber(ARGV[j + 5]),
      cbw = tonumber(ARGV[j + 6]), cbc = tonumber(ARGV[j + 7]), qp = tonumber(ARGV[j + 8]) or 60000 }
  end
  return list, i + 1 + n * 9
end

-- Tokens of the buckets in 'ids' (HMGET of :tv), summed.
local function bucket_sum(name, ids)
  if #ids == 0 then return 0 end
  local sum = 0
  for _, v in ipairs(redis.call('HMGET', uk(name, ':tv'), unpack(ids))) do sum = sum + (tonumber(v) or 0) end
  return sum
end

-- One upstream's state, read (and its windows pruned) once per script call, then kept in UP.
local function up_load(p)
  local s = UP[p.name]
  if s then return s end
  local h = uk(p.name, '')
  local f = redis.call('HMGET', h, 'pu', 'cb', 'cu', 'pr')
  s = { pu = tonumber(f[1]) or 0, cb = f[2] or 'c', cu = tonumber(f[3]) or 0, pr = f[4] or '', ts = 0, bucket = '' }
  s.inflight = redis.call('ZCARD', uk(p.name, ':in'))
  if p.rpm then
    redis.call('ZREMRANGEBYSCORE', uk(p.name, ':rq'), '-inf', NOW - WINDOW)
    s.rq = redis.call('ZCARD', uk(p.name, ':rq'))
  end
  if p.tpm then
    -- Buckets whose last millisecond has left the window.
    local old = redis.call('ZRANGEBYSCORE', uk(p.name, ':tk'), '-inf', NOW - WINDOW - 999, 'LIMIT', 0, 200)
    if #old > 0 then
      redis.call('ZREM', uk(p.name, ':tk'), unpack(old))
      redis.call('HDEL', uk(p.name, ':tv'), unpack(old))
    end
    -- At most 61 buckets are left (every reserve prunes first).
    for _, v in ipairs(redis.call('HVALS', uk(p.name, ':tv'))) do s.ts = s.ts + tonumber(v) end
  end
  UP[p.name] = s
  return s
end

-- nil when the upstream can take a request of 'est' tokens now, else why not.
local function up_room(p, s, est)
  if s.pu > NOW then return 'paused' end
  if p.cbn then
    if s.cb == 'o' and s.cu > NOW then return 'open' end
    if s.cb ~= 'c' and s.pr ~= '' then return 'probing' end
  end
  if p.maxc and s.inflight >= p.maxc then return 'concurrency' end
  if p.rpm and s.rq >= p.rpm then return 'requests' end
  if p.tpm and s.ts + math.min(est, p.tpm) > p.tpm then return 'tokens' end
  return nil
end

-- When a blocked upstream may have room again (nil: only a settle or a report frees it).
local function up_wake(p, s, est, reason)
  if reason == 'paused' then return s.pu end
  if reason == 'open' then return s.cu end
  if reason == 'requests' then
    local o = redis.call('ZRANGE', uk(p.name, ':rq'), 0, 0, 'WITHSCORES')
    if o[2] then return tonumber(o[2]) + WINDOW end
    return NOW + 1000
  end
  if reason == 'tokens' then
    local excess = s.ts + math.min(est, p.tpm) - p.tpm
    local o = redis.call('ZRANGE', uk(p.name, ':tk'), 0, 199, 'WITHSCORES')
    local ids = {}
    for k = 1, #o, 2 do ids[#ids + 1] = o[k] end
    local values = #ids > 0 and redis.call('HMGET', uk(p.name, ':tv'), unpack(ids)) or {}
    local freed, at = 0, NOW + 1000
    for k = 1, #ids do
      freed = freed + (tonumber(values[k]) or 0)
      at = tonumber(o[2 * k]) + 999 + WINDOW
      if freed >= excess then break end
    end
    return at
  end
  return nil
end

-- The upstream with room and the least (in flight + 1) / weight; ties go to the first configured.
local function up_choose(list, est, exclude)
  local best, bestLoad
  for _, p in ipairs(list) do
    if not exclude[p.name] then
      local s = up_load(p)
      if not up_room(p, s, est) then
        local load = (s.inflight + 1) / p.weight
        if not best or load < bestLoad then best, bestLoad = p, load end
      end
    end
  end
  return best
end

-- Why no upstream has room: 'unavailable' (all paused/open/probing, or none left) or 'capacity', the
-- earliest wake time (0 = none known) and {name, reason, ...}.
local function up_why(list, est, exclude)
  local wake, reasons, hard = nil, {}, true
  for _, p in ipairs(list) do
    if not exclude[p.name] then
      local s = up_load(p)
      local reason = up_room(p, s, est)
      if reason then
        reasons[#reasons + 1] = p.name
        reasons[#reasons + 1] = reason
        if reason ~= 'paused' and reason ~= 'open' and reason ~= 'probing' then hard = false end
        local at = up_wake(p, s, est, reason)
        if at and (not wake or at < wake) then wake = at end
      end
    end
  end
  return hard and 'unavailable' or 'capacity', wake or 0, reasons
end

-- Reserves a slot, a request and the task's estimate (capped at the TPM budget: a task bigger than the
-- budget runs alone in its window) on p. Returns the task hash fields to set.
local function up_reserve(p, id, est)
  local s = UP[p.name]
  local h = uk(p.name, '')
  redis.call('ZADD', uk(p.name, ':in'), NOW, id)
  s.inflight = s.inflight + 1
  local fields = { 'up', p.name, 'um', '' }
  if p.rpm then
    -- Unique without a counter: a second entry of the same task in the same ms finds one more in the window.
    redis.call('ZADD', uk(p.name, ':rq'), NOW, id .. ':' .. NOW .. ':' .. s.rq)
    s.rq = s.rq + 1
  end
  if p.tpm then
    local t = math.min(est, p.tpm)
    local bucket = tostring(math.floor(NOW / 1000))
    if s.bucket ~= bucket then
      redis.call('ZADD', uk(p.name, ':tk'), bucket * 1000, bucket)
      s.bucket = bucket
    end
    redis.call('HINCRBY', uk(p.name, ':tv'), bucket, t)
    s.ts = s.ts + t
    fields[4] = bucket .. ':' .. t
  end
  if p.cbn and s.cb ~= 'c' then
    -- Past the cooldown: this task is the half-open breaker's single probe.
    redis.call('HSET', h, 'cb', 'h', 'pr', id)
    s.cb, s.pr = 'h', id
    fields[5], fields[6] = 'upr', '1'
  end
  return fields
end

-- Ends the task's reservation: frees its slot (and the probe), and its tokens become 'actual' (settle),
-- stay (lease expired: the request may have run) or go (actual = -1: released, nothing was served).
local function up_release(id, m, actual)
  local f = redis.call('HMGET', m, 'up', 'um', 'upr')
  if not f[1] or f[1] == '' then return end
  local h = uk(f[1], '')
  redis.call('ZREM', uk(f[1], ':in'), id)
  if f[3] == '1' and redis.call('HGET', h, 'pr') == id then redis.call('HSET', h, 'pr', '') end
  if f[2] and f[2] ~= '' and actual then
    local bucket, reserved = string.match(f[2], '^(%d+):(%d+)$')
    -- Only while its bucket is still in the window (else it has left it already).
    if bucket and redis.call('HEXISTS', uk(f[1], ':tv'), bucket) == 1 then
      local delta = -tonumber(reserved)
      if actual >= 0 then delta = delta + math.floor(actual) end
      if delta ~= 0 then redis.call('HINCRBY', uk(f[1], ':tv'), bucket, delta) end
    end
  end
  -- A settle deletes the task hash next; otherwise the task may be reserved again.
  if not (actual and actual >= 0) then redis.call('HDEL', m, 'up', 'um', 'upr') end
end
`;
