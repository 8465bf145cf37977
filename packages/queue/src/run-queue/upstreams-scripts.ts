import { PRELUDE } from "./scripts";

/**
 * The upstream scripts (issue 16, part 2), on the run queue's prelude (same six KEYS, ARGV[1] base,
 * ARGV[2] now). Keys and the up_* functions: upstreams-lua.ts.
 */

/**
 * ARGV[3] id, [4] lease token, [5] count of excluded upstreams (<= 16), then their names, then the
 * model's upstreams. Failover of a leased task: its reservation is released (slot freed, reserved tokens
 * refunded: nothing was served; its request stays counted), then the upstream with room and least load,
 * excluded ones left out, is reserved for it. Returns {upstream} or {'', why, wake, reasons}; why 'lost'
 * when the token no longer holds the task (nothing changes then). Cost: ~6 + ~4 per upstream read.
 */
export const RESERVE = `${PRELUDE}
local id = ARGV[3]
local m = BASE .. 'm:' .. id
local f = redis.call('HMGET', m, 'st', 'tk', 'es')
if f[1] ~= 'l' or f[2] ~= ARGV[4] then return {'', 'lost', 0, {}} end
local nx = math.min(tonumber(ARGV[5]) or 0, 16)
local exclude = {}
for i = 1, nx do exclude[ARGV[5 + i]] = true end
local list = up_params(6 + nx)
up_release(id, m, -1)
local est = tonumber(f[3]) or 1
local p = up_choose(list, est, exclude)
if not p then
  local why, wake, reasons = up_why(list, est, exclude)
  return {'', why, wake, reasons}
end
redis.call('HSET', m, unpack(up_reserve(p, id, est)))
return {p.name, '', 0, {}}
`;

/**
 * ARGV[3] kind (ok | fail | rate_limited | quota), [4] Retry-After ms ('' = none), [5] latency ms
 * ('' = none), [6] error label, [7..] one upstream's params (count 1). What one request of the upstream
 * ended with, for everyone's next dispatch:
 * - ok: latency kept (last 200); the 429 step resets; a half-open breaker (or an open one past its
 *   cooldown) closes. An ok from a request started before the breaker opened does not close it.
 * - fail: counted in the breaker's window; N in the window open it for the cooldown; a failure while
 *   half-open (the probe's) opens it again.
 * - rate_limited: paused until now + Retry-After, else now + step, the step doubling from 1 s up to
 *   60 s; reports while a step's pause still runs (victims of the same burst) do not double it.
 * - quota: paused for the upstream's quota pause.
 * A pause only ever extends. Errors count by label per minute (kept 15 min). Returns {state, paused
 * until, open until}. Cost: ~3-7 commands.
 */
export const REPORT = `${PRELUDE}
local p = up_params(7)[1]
local h = uk(p.name, '')
local f = redis.call('HMGET', h, 'pu', 'ps', 'cb', 'cu')
local pu, ps, cb, cu = tonumber(f[1]) or 0, tonumber(f[2]) or 0, f[3] or 'c', tonumber(f[4]) or 0
local kind = ARGV[3]
local function pause(untilMs, pk)
  if untilMs > pu then
    pu = untilMs
    redis.call('HSET', h, 'pu', pu, 'pk', pk)
  end
end
if kind == 'ok' then
  if ARGV[5] ~= '' then
    redis.call('LPUSH', uk(p.name, ':lat'), ARGV[5])
    redis.call('LTRIM', uk(p.name, ':lat'), 0, 199)
  end
  if ps ~= 0 then redis.call('HSET', h, 'ps', 0) end
  if cb == 'h' or (cb == 'o' and cu <= NOW) then
    cb = 'c'
    redis.call('HSET', h, 'cb', 'c', 'pr', '')
    redis.call('DEL', uk(p.name, ':f'))
  end
else
  local minute = uk(p.name, ':e:' .. math.floor(NOW / 60000))
  redis.call('HINCRBY', minute, ARGV[6], 1)
  redis.call('EXPIRE', minute, 900)
  redis.call('HSET', h, 'le', ARGV[6], 'lt', NOW)
  if kind == 'rate_limited' then
    if ARGV[4] ~= '' then pause(NOW + tonumber(ARGV[4]), 'rate_limited')
    else
      local step = ps
      if step == 0 then step = 1000 elseif pu <= NOW then step = math.min(step * 2, 60000) end
      if step ~= ps then redis.call('HSET', h, 'ps', step) end
      pause(NOW + step, 'rate_limited')
    end
  elseif kind == 'quota' then
    pause(NOW + p.qp, 'quota')
  elseif kind == 'fail' and p.cbn then
    if cb == 'h' or (cb == 'o' and cu <= NOW) then
      cb, cu = 'o', NOW + p.cbc
      redis.call('HSET', h, 'cb', 'o', 'cu', cu, 'pr', '')
      redis.call('DEL', uk(p.name, ':f'))
    elseif cb == 'c' then
      local fk = uk(p.name, ':f')
      redis.call('ZADD', fk, NOW, NOW .. ':' .. redis.call('HINCRBY', h, 'seq', 1))
      redis.call('ZREMRANGEBYSCORE', fk, '-inf', NOW - p.cbw)
      if redis.call('ZCARD', fk) >= p.cbn then
        cb, cu = 'o', NOW + p.cbc
        redis.call('HSET', h, 'cb', 'o', 'cu', cu, 'pr', '')
        redis.call('DEL', fk)
      end
    end
  end
end
local state = 'ok'
if p.cbn and cb == 'o' and cu > NOW then state = 'open'
elseif p.cbn and cb ~= 'c' then state = 'half_open'
elseif pu > NOW then state = 'paused' end
local openUntil = 0
if cb == 'o' and cu > NOW then openUntil = cu end
local pausedUntil = 0
if pu > NOW then pausedUntil = pu end
return {state, pausedUntil, openUntil}
`;

/**
 * ARGV[3..] the model's upstreams. Read-only (flags=no-writes: Redis refuses any write, and it may run
 * on a replica). Per upstream: {name, state, paused until, pause kind, open until, in flight, requests
 * and tokens in the current window, {latencies sorted, last 200}, {kind, count, ...} over 5 minutes,
 * last error kind, its time}. Tokens: the sum kept minus buckets already out of the window and not yet
pruned (never more than 200: see upstreams-lua.ts). Cost: ~13 per upstream.
 */
export const SNAPSHOT = `#!lua flags=no-writes
${PRELUDE}
local list = up_params(3)
local out = {}
for _, p in ipairs(list) do
  local h = uk(p.name, '')
  local f = redis.call('HMGET', h, 'pu', 'pk', 'cb', 'cu', 'le', 'lt')
  local pu, cb, cu = tonumber(f[1]) or 0, f[3] or 'c', tonumber(f[4]) or 0
  local state = 'ok'
  if p.cbn and cb == 'o' and cu > NOW then state = 'open'
  elseif p.cbn and cb ~= 'c' then state = 'half_open'
  elseif pu > NOW then state = 'paused' end
  local tokens = -bucket_sum(p.name, redis.call('ZRANGEBYSCORE', uk(p.name, ':tk'), '-inf', NOW - WINDOW - 999, 'LIMIT', 0, 200))
  for _, v in ipairs(redis.call('HVALS', uk(p.name, ':tv'))) do tokens = tokens + tonumber(v) end
  local lat = redis.call('LRANGE', uk(p.name, ':lat'), 0, 199)
  for k = 1, #lat do lat[k] = tonumber(lat[k]) end
  table.sort(lat)
  local errors = {}
  local totals = {}
  local minute = math.floor(NOW / 60000)
  for k = 0, 4 do
    local e = redis.call('HGETALL', uk(p.name, ':e:' .. (minute - k)))
    for j = 1, #e, 2 do totals[e[j]] = (totals[e[j]] or 0) + tonumber(e[j + 1]) end
  end
  for kind, count in pairs(totals) do errors[#errors + 1] = kind; errors[#errors + 1] = count end
  local pausedUntil, pauseKind = 0, ''
  if pu > NOW then pausedUntil, pauseKind = pu, f[2] or '' end
  local openUntil = 0
  if p.cbn and cb == 'o' and cu > NOW then openUntil = cu end
  out[#out + 1] = { p.name, state, pausedUntil, pauseKind, openUntil, redis.call('ZCARD', uk(p.name, ':in')),
    redis.call('ZCOUNT', uk(p.name, ':rq'), '(' .. (NOW - WINDOW), '+inf'), tokens, lat, errors, f[5] or '', f[6] or '' }
end
return out
`;
