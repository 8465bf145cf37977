/**
 * The run queue's Lua scripts. Every script gets the same six KEYS (state, tenants, weights, leased,
 * counts, dead: see keys.ts) and ARGV[1] = the key base, ARGV[2] = now in ms ('' = Redis's clock; tests
 * pass their own). Every loop is bounded by an argument the TypeScript side caps (200 entries or ids a
 * call, 100 dispatches, 100 expired leases).
 *
 * Scores. A task's score in its tenant's zset is `stamp + tierDelay * 1024`, where `stamp` =
 * max(now * 1024, last stamp + 1): enqueue order is exact (1,024 stamps a millisecond before the stamp
 * runs ahead of the clock, by ~5 ms for 5,000 at once), and integers stay exact in a double (~1.8e15).
 *
 * Fairness (virtual token counters). Tenants with waiting work are in the `tenants` zset by counter; a
 * dispatch picks the lowest, pops its best task, and charges est / weight. A tenant whose queue empties
 * leaves the zset and keeps its counter in `weights` (`c:<tenant>`); when it has work again it is lifted
 * to max(that counter, lowest active counter - DELTA) (or the last picked counter when no tenant is
 * active), so idle time banks no credit, and a newcomer goes before the tenant at the lowest counter
 * (DELTA, a thousandth of a token, is the only credit it gets).
 */

import { BORROW_LIB } from "./borrow-lua";
import { UPSTREAM_LIB } from "./upstreams-lua";

export const PRELUDE = `
local K_S, K_T, K_W, K_R, K_C, K_X = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local BASE = ARGV[1]
local NOW
if ARGV[2] ~= '' then NOW = tonumber(ARGV[2]) else
  local t = redis.call('TIME')
  NOW = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local DELTA = 0.001
-- Upstream capacity and health (issue 16 part 2): up_* functions, see upstreams-lua.ts.
${UPSTREAM_LIB}
-- Fallbacks (issue 16, borrow): dl_add, dl_add_many, dl_rem, borrow_expire, borrow_may_free; see borrow-lua.ts.
${BORROW_LIB}

local function weight(tenant)
  return tonumber(redis.call('HGET', K_W, 'w:' .. tenant) or '1')
end

-- The tenant has waiting work again: lift its counter (see the file's comment).
local function activate(tenant)
  if redis.call('ZSCORE', K_T, tenant) then return end
  local last = redis.call('HGET', K_W, 'c:' .. tenant)
  local floor
  local low = redis.call('ZRANGE', K_T, 0, 0, 'WITHSCORES')
  if low[2] then floor = tonumber(low[2]) - DELTA else floor = tonumber(redis.call('HGET', K_S, 'vclock') or '0') end
  local counter = floor
  if last and tonumber(last) > floor then counter = tonumber(last) end
  redis.call('ZADD', K_T, counter, tenant)
  redis.call('HDEL', K_W, 'c:' .. tenant)
  redis.call('HINCRBYFLOAT', K_S, 'aw', weight(tenant))
end

-- The tenant has nothing waiting any more: it leaves the active set, keeping its counter.
local function deactivate(tenant, counter)
  redis.call('ZREM', K_T, tenant)
  redis.call('HSET', K_W, 'c:' .. tenant, counter)
  redis.call('HINCRBYFLOAT', K_S, 'aw', -weight(tenant))
end

-- Moves a tenant's counter (a settle's correction, a refund), wherever it is kept.
local function adjust(tenant, delta)
  if delta == 0 then return end
  if redis.call('ZSCORE', K_T, tenant) then redis.call('ZINCRBY', K_T, delta, tenant)
  else redis.call('HINCRBYFLOAT', K_W, 'c:' .. tenant, delta) end
end

-- Waiting counts: in all, by tier and tenant, and batch items apart ('bw': a task whose 'bt' is '1'), so
-- backpressure counts interactive tasks of every tier and leaves batch items (admitted by their batch's
-- own limits) out.
local function count_waiting(tenant, tier, by, batch)
  redis.call('HINCRBY', K_C, 'waiting', by)
  if redis.call('HINCRBY', K_C, 'n:' .. tier .. ':' .. tenant, by) <= 0 then redis.call('HDEL', K_C, 'n:' .. tier .. ':' .. tenant) end
  if batch == '1' and redis.call('HINCRBY', K_C, 'bw', by) <= 0 then redis.call('HDEL', K_C, 'bw') end
end

-- A task back in its tenant's line with the given score, its charge refunded (it was not served).
local function requeue(id, m, tenant, tier, score, charge)
  adjust(tenant, -(tonumber(charge) or 0))
  redis.call('ZADD', BASE .. 'q:' .. tenant, score, id)
  redis.call('HSET', m, 'st', 'w')
  redis.call('HDEL', m, 'wk', 'tk', 'lu', 'ch', 'bo')
  -- Borrow hook: back in the expiry rescue's deadline index ('dl'), as every waiting task with a deadline.
  local g = redis.call('HMGET', m, 'bt', 'dl')
  count_waiting(tenant, tier, 1, g[1])
  dl_add(id, g[2])
  activate(tenant)
end

-- Expired leases (at most 'max'): back with their original score, or to the dead list after 3 stalls.
local function requeue_expired(max)
  local ids = redis.call('ZRANGEBYSCORE', K_R, '-inf', NOW, 'LIMIT', 0, max)
  local requeued, dead = 0, 0
  for _, id in ipairs(ids) do
    local m = BASE .. 'm:' .. id
    redis.call('ZREM', K_R, id)
    up_release(id, m, nil) -- upstream hook: its slot is freed, its tokens stay (the request may have run)
    redis.call('HINCRBY', K_C, 'leased', -1)
    local f = redis.call('HMGET', m, 'te', 'ti', 'sc', 'ch', 'ss')
    if f[1] then
      local stalls = tonumber(f[5] or '0') + 1
      redis.call('HSET', m, 'ss', stalls)
      if stalls > 3 then
        adjust(f[1], -(tonumber(f[4]) or 0))
        redis.call('HSET', m, 'st', 'd')
        redis.call('HDEL', m, 'wk', 'tk', 'lu', 'ch', 'bo')
        redis.call('RPUSH', K_X, id)
        redis.call('HINCRBY', K_C, 'dead', 1)
        dead = dead + 1
      else
        requeue(id, m, f[1], f[2], f[3], f[4])
        requeued = requeued + 1
      end
    end
  end
  return requeued, dead
end

-- Wiring (issue 16, wire): retry-delayed tasks (zset BASE..'d', id -> due ms, st 'y') and the wake
-- marker (zset BASE..'k', one member) idle dispatch loops block on with BZPOPMIN.
local function wake()
  redis.call('ZADD', BASE .. 'k', 0, 'w')
end

-- Delayed tasks now due (at most 'max'): back in line with their original score.
local function promote_due(max)
  local ids = redis.call('ZRANGEBYSCORE', BASE .. 'd', '-inf', NOW, 'LIMIT', 0, max)
  for _, id in ipairs(ids) do
    local m = BASE .. 'm:' .. id
    redis.call('ZREM', BASE .. 'd', id)
    redis.call('HINCRBY', K_C, 'delayed', -1)
    local f = redis.call('HMGET', m, 'te', 'ti', 'sc')
    if f[1] then requeue(id, m, f[1], f[2], f[3], 0) end
  end
  return #ids
end

-- When the next thing a blocked loop should look at is due (a delayed task, an expiring lease), or ''.
local function next_due()
  local due = ''
  local d = redis.call('ZRANGE', BASE .. 'd', 0, 0, 'WITHSCORES')
  if d[2] then due = tonumber(d[2]) end
  local r = redis.call('ZRANGE', K_R, 0, 0, 'WITHSCORES')
  if r[2] and (due == '' or tonumber(r[2]) < due) then due = tonumber(r[2]) end
  return due
end

-- The enqueue stamp after 'last' (see the file's comment); stamp() reads and writes 'last' for one task,
-- ENQUEUE keeps it in a local for its entries and writes it once.
local function next_stamp(last)
  local s = NOW * 1024
  if s <= last then s = last + 1 end
  return s
end

local function stamp()
  local s = next_stamp(tonumber(redis.call('HGET', K_S, 'last') or '0'))
  redis.call('HSET', K_S, 'last', s)
  return s
end
`;

/**
 * ARGV[3..5]: delay (ms) of priority, default, flex. Then 8 per entry: id, tenant, weight ('' = keep the
 * tenant's, else 1), tier, estimated tokens (>= 1), queue deadline ('' = none), request copy ('' = none),
 * batch ('1' = a batch's item, counted apart in 'bw'; '0' = interactive). Skips ids already
 * present. Returns the number added. Cost: 2 commands per entry (is it there; its hash), and per call
 * the stamp (2), each tenant's line, weight and counts (about 5, +6 when it becomes active) and the
 * deadline index: a call's entries are mostly one tenant's (a batch, a tick's submits of one key), so
 * what is the same for all of them is done once, with the sums, as entry-by-entry updates would leave it.
 */
export const ENQUEUE = `${PRELUDE}
local delays = { priority = tonumber(ARGV[3]), default = tonumber(ARGV[4]), flex = tonumber(ARGV[5]) }
local added = 0
local last = tonumber(redis.call('HGET', K_S, 'last') or '0')
-- Per tenant, in order of first appearance: its line's (score, id) pairs, its weight as stored (read at
-- its first entry; false: none), and its added entries by tier and batch flag (count_waiting's groups).
local tenants, lines, weights, groups = {}, {}, {}, {}
local deadlines = {}
for i = 6, #ARGV, 8 do
  local id, tenant, w, tier, est, deadline, copy, batch = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5], ARGV[i + 6], ARGV[i + 7]
  local m = BASE .. 'm:' .. id
  if redis.call('EXISTS', m) == 0 then
    last = next_stamp(last)
    local score = last + delays[tier] * 1024
    redis.call('HSET', m, 'te', tenant, 'ti', tier, 'sc', score, 'es', est, 'dl', deadline, 'cp', copy, 'st', 'w', 'ss', 0, 'bt', batch)
    local line = lines[tenant]
    if not line then
      line = {}
      lines[tenant] = line
      groups[tenant] = {}
      tenants[#tenants + 1] = tenant
      weights[tenant] = redis.call('HGET', K_W, 'w:' .. tenant)
    end
    local old = weights[tenant]
    -- Join: no weight given (a re-enqueue that does not know it): the tenant's weight as last given, else 1.
    if w == '' then w = old or '1' end
    if old ~= w then
      redis.call('HSET', K_W, 'w:' .. tenant, w)
      -- An active tenant's share of the total moves now; one that activates below adds its last weight.
      if old and redis.call('ZSCORE', K_T, tenant) then redis.call('HINCRBYFLOAT', K_S, 'aw', tonumber(w) - tonumber(old)) end
      weights[tenant] = w
    end
    line[#line + 1] = score
    line[#line + 1] = id
    local key = tier .. ' ' .. batch
    local group = groups[tenant][key]
    if group then group.n = group.n + 1 else groups[tenant][key] = { tier = tier, batch = batch, n = 1 } end
    -- Borrow hook: the expiry rescue's deadline index, one ZADD for the call (dl_add_many).
    if deadline ~= '' then
      deadlines[#deadlines + 1] = deadline
      deadlines[#deadlines + 1] = id
    end
    added = added + 1
  end
end
if added == 0 then return 0 end
redis.call('HSET', K_S, 'last', last)
dl_add_many(deadlines)
for _, tenant in ipairs(tenants) do
  redis.call('ZADD', BASE .. 'q:' .. tenant, unpack(lines[tenant]))
  for _, group in pairs(groups[tenant]) do count_waiting(tenant, group.tier, group.n, group.batch) end
  activate(tenant)
end
wake()
return added
`;

/**
 * ARGV[3] worker id, [4] max tasks (<= 100), [5] lease ms, [6] room: how many more tasks the model may
 * have leased ('' = no cap), [7..] the model's upstreams (count, then 9 fields each; count 0 = no
 * upstream bookkeeping). Prelude: up to 100 expired leases back in line. Then, per task: the lowest
 * counter's tenant, its best-scored task, an upstream with room reserved for it, charged est / weight,
 * leased under one token for the call. When no upstream has room for the task at the head, it stays in
 * line with its place and the call ends (no skipping to smaller tasks).
 * Returns {token, leaseUntil, {{id, tenant, tier, copy, deadline, tries, score, upstream}...}, due, why,
 * wake, reasons, head id, head estimate}: due (wiring) = when something falls due (a delayed task, an
 * expiring lease) if nothing was leased, else ''; why '' unless blocked: 'capacity' or 'unavailable' (see
 * up_why), and then (borrow hook) the head that stayed in line. Cost: ~4 commands + ~14 per task (+4 when
 * its tenant's line empties, +1 with a queue deadline), + ~5 per upstream read once a call, + ~3 per
 * reservation; blocked by concurrency or a probe, +1 (expired borrows).
 */
export const DISPATCH = `${PRELUDE}
requeue_expired(100)
promote_due(100)
-- Wiring: a paused queue (admin) leases nothing; its tasks wait.
if redis.call('HGET', K_S, 'paused') == '1' then return {'', 0, {}, '', '', 0, {}} end
local UPS = up_params(7)
local blocked = {'', 0, {}, '', 0}
local n = tonumber(ARGV[4])
-- Capacity: 'room' caps the model's leased tasks; the upstreams' room is checked per task in the loop
-- (upstream hook below).
if ARGV[6] ~= '' then
  local free = tonumber(ARGV[6]) - redis.call('ZCARD', K_R)
  if free < n then n = free end
end
if n <= 0 then return {'', 0, {}, next_due(), '', 0, {}} end
local token = ARGV[3] .. ':' .. redis.call('HINCRBY', K_S, 'tok', 1)
local leaseUntil = NOW + tonumber(ARGV[5])
local out = {}
-- Bounded: each turn leases a task or drops one empty tenant (an inconsistency), at most n + 16 turns.
for _ = 1, n + 16 do
  if #out >= n then break end
  local low = redis.call('ZRANGE', K_T, 0, 0, 'WITHSCORES')
  if not low[1] then break end
  local tenant, counter = low[1], tonumber(low[2])
  local q = BASE .. 'q:' .. tenant
  local popped = redis.call('ZPOPMIN', q)
  if not popped[1] then
    deactivate(tenant, counter)
  else
    local id = popped[1]
    local m = BASE .. 'm:' .. id
    local f = redis.call('HMGET', m, 'ti', 'es', 'cp', 'dl', 'tr', 'sc', 'bt')
    -- Upstream hook (issue 16 part 2): reserve an upstream with room, or put the task back with its
    -- score (nothing charged yet) and end the call with why and when to try again.
    local upf = { 'up', '' }
    if #UPS > 0 then
      local est = tonumber(f[2]) or 1
      local p = up_choose(UPS, est, {})
      if not p then
        local why, at, reasons = up_why(UPS, est, {})
        -- Borrow hook: a slot or probe held by a borrow whose lease ended (its worker died) is freed, then
        -- the upstreams are read again. Only on this path: when there is room a stale borrow costs nothing.
        if borrow_may_free(reasons) and borrow_expire(100) > 0 then
          UP = {}
          p = up_choose(UPS, est, {})
          if not p then why, at, reasons = up_why(UPS, est, {}) end
        end
        if not p then
          redis.call('ZADD', q, popped[2], id)
          -- Borrow hook: the head put back, what a fallback borrow is for.
          blocked = {why, at, reasons, id, f[2]}
          break
        end
      end
      upf = up_reserve(p, id, est)
    end
    local charge = (tonumber(f[2]) or 1) / weight(tenant)
    redis.call('HSET', K_S, 'vclock', counter)
    if redis.call('ZCARD', q) == 0 then deactivate(tenant, counter + charge)
    else redis.call('ZADD', K_T, counter + charge, tenant) end
    redis.call('HSET', m, 'st', 'l', 'wk', ARGV[3], 'tk', token, 'lu', leaseUntil, 'ch', charge, 'la', NOW, unpack(upf))
    redis.call('ZADD', K_R, leaseUntil, id)
    dl_rem(id, f[4]) -- borrow hook: no longer waiting, out of the rescue's index
    count_waiting(tenant, f[1], -1, f[7])
    redis.call('HINCRBY', K_C, 'leased', 1)
    out[#out + 1] = { id, tenant, f[1], f[3] or '', f[4] or '', f[5] or '0', f[6] or '0', upf[2] }
  end
end
-- Wiring: work left for other loops (this call took all it could, or stopped short of its bound while
-- not blocked): the marker wakes one of them, or the caller itself once it waits.
if (#out >= n or blocked[1] == '') and redis.call('ZCARD', K_T) > 0 then wake() end
-- Fewer leased than asked (nothing else ready): when something falls due, so the caller, which waits on
-- the marker next instead of asking again, knows how long it may block.
local due = ''
if #out < n then due = next_due() end
-- Borrow hook: an idle dispatch given upstreams (the fallback's loop with nothing of its own) frees the
-- borrows whose lease ended, so its slots and in-flight count are true again within one idle wait.
if #out == 0 and #UPS > 0 and blocked[1] == '' then borrow_expire(100) end
return {token, leaseUntil, out, due, blocked[1], blocked[2], blocked[3], blocked[4], blocked[5]}
`;

/**
 * ARGV[3] id, [4] token, [5] actual tokens. The task is done: its lease ends and its tenant's counter is
 * corrected by (actual - est) / weight (the weight charged at dispatch). A wrong or stale token changes
 * nothing. Wakes a blocked dispatch loop (the marker) when tasks wait. Returns 1 or 0. Cost: ~9 commands (+1 to wake).
 */
export const SETTLE = `${PRELUDE}
local m = BASE .. 'm:' .. ARGV[3]
local f = redis.call('HMGET', m, 'st', 'tk', 'te', 'ch', 'es', 'la')
if f[1] ~= 'l' or f[2] ~= ARGV[4] then return 0 end
up_release(ARGV[3], m, math.max(0, tonumber(ARGV[5]))) -- upstream hook: slot freed, tokens rewritten to the real usage
local charge, est = tonumber(f[4]) or 0, tonumber(f[5]) or 1
adjust(f[3], charge * (tonumber(ARGV[5]) / est - 1))
-- Wiring: the last 20 run times (lease to settle, ms), for the API's ETA estimate.
if f[6] then
  redis.call('LPUSH', BASE .. 'rt', NOW - tonumber(f[6]))
  redis.call('LTRIM', BASE .. 'rt', 0, 19)
end
redis.call('ZREM', K_R, ARGV[3])
redis.call('HINCRBY', K_C, 'leased', -1)
-- Wiring: tasks settled since the queue began (the admin's 'completed').
redis.call('HINCRBY', K_C, 'done', 1)
redis.call('DEL', m)
-- A lease (and its upstream slot) freed while tasks wait: wake a loop blocked on the marker, which
-- would otherwise sleep until its timeout with room to lease.
if redis.call('ZCARD', K_T) > 0 then wake() end
return 1
`;

/** ARGV[3] token, [4] lease ms, [5..] ids (<= 200). Extends the leases the token holds. Returns how many. Cost: 1 + 3 per id. */
export const RENEW = `${PRELUDE}
local leaseUntil = NOW + tonumber(ARGV[4])
local renewed = 0
for i = 5, #ARGV do
  local m = BASE .. 'm:' .. ARGV[i]
  local f = redis.call('HMGET', m, 'st', 'tk')
  if f[1] == 'l' and f[2] == ARGV[3] then
    redis.call('HSET', m, 'lu', leaseUntil)
    redis.call('ZADD', K_R, 'XX', leaseUntil, ARGV[i])
    renewed = renewed + 1
  end
end
return renewed
`;

/**
 * ARGV[3] id, [4] token, [5] '1' = keep its place (original score) or '0' = to the back of its tier,
 * [6..8] tier delays. The lease ends, the charge is refunded, the task waits again. Returns 1 or 0. Cost: ~15.
 */
export const RELEASE = `${PRELUDE}
local id = ARGV[3]
local m = BASE .. 'm:' .. id
local f = redis.call('HMGET', m, 'st', 'tk', 'te', 'ti', 'sc', 'ch')
if f[1] ~= 'l' or f[2] ~= ARGV[4] then return 0 end
up_release(id, m, -1) -- upstream hook: slot freed, reserved tokens refunded (nothing was served)
local score = f[5]
if ARGV[5] ~= '1' then
  local delays = { priority = tonumber(ARGV[6]), default = tonumber(ARGV[7]), flex = tonumber(ARGV[8]) }
  score = stamp() + delays[f[4]] * 1024
  redis.call('HSET', m, 'sc', score)
end
redis.call('ZREM', K_R, id)
redis.call('HINCRBY', K_C, 'leased', -1)
requeue(id, m, f[3], f[4], score, f[6])
wake()
return 1
`;

/**
 * Wiring. ARGV[3] id, [4] token, [5] due (ms), [6] '1' = a try spent (a retry after a failure) or '0'
 * (Postgres out of reach, a pause: nobody's fault). The lease ends, the charge is refunded, and the task
 * waits in the delayed set until due; dispatch then puts it back with its original score. Returns 1 or 0.
 */
export const DEFER = `${PRELUDE}
local id = ARGV[3]
local m = BASE .. 'm:' .. id
local f = redis.call('HMGET', m, 'st', 'tk', 'te', 'ch')
if f[1] ~= 'l' or f[2] ~= ARGV[4] then return 0 end
redis.call('ZREM', K_R, id)
-- Upstream hook (join): its slot is freed, its tokens stay (as an expiry: the request may have run).
up_release(id, m, nil)
redis.call('HINCRBY', K_C, 'leased', -1)
adjust(f[3], -(tonumber(f[4]) or 0))
redis.call('HSET', m, 'st', 'y')
redis.call('HDEL', m, 'wk', 'tk', 'lu', 'ch', 'bo')
if ARGV[6] == '1' then redis.call('HINCRBY', m, 'tr', 1) end
redis.call('ZADD', BASE .. 'd', tonumber(ARGV[5]), id)
redis.call('HINCRBY', K_C, 'delayed', 1)
-- Its lease and upstream slot are free: a loop blocked on the marker wakes when other tasks wait.
if redis.call('ZCARD', K_T) > 0 then wake() end
return 1
`;

/**
 * Wiring. ARGV[3] max (<= 1000). The distinct workers holding leases now (among the first 'max' leased
 * ids, and (borrow hook) the first 'max' borrows this model lends), so the caller can check their
 * heartbeats. Read-only.
 */
export const LEASE_HOLDERS = `${PRELUDE}
local seen, out = {}, {}
for _, id in ipairs(redis.call('ZRANGE', K_R, 0, tonumber(ARGV[3]) - 1)) do
  local wk = redis.call('HGET', BASE .. 'm:' .. id, 'wk')
  if wk and not seen[wk] then seen[wk] = true; out[#out + 1] = wk end
end
-- Borrow hook: the workers holding borrows this model lends (a dead one's are freed by REAP_DEAD).
for _, h in ipairs(redis.call('ZRANGE', BASE .. 'bl', 0, tonumber(ARGV[3]) - 1)) do
  local wk = redis.call('HGET', BASE .. h, 'wk')
  if wk and not seen[wk] then seen[wk] = true; out[#out + 1] = wk end
end
return out
`;

/**
 * Wiring. ARGV[3] max (<= 1000), ARGV[4..] ids of workers that stopped beating. Their leases end now
 * (counted as a stall, as an expiry is) and go back in line; (borrow hook) their borrows end too. Returns
 * the task ids.
 */
export const REAP_DEAD = `${PRELUDE}
local dead = {}
for i = 4, #ARGV do dead[ARGV[i]] = true end
local reaped = {}
for _, id in ipairs(redis.call('ZRANGE', K_R, 0, tonumber(ARGV[3]) - 1)) do
  local wk = redis.call('HGET', BASE .. 'm:' .. id, 'wk')
  if wk and dead[wk] then
    redis.call('ZADD', K_R, 0, id)
    reaped[#reaped + 1] = id
  end
end
if #reaped > 0 then requeue_expired(#reaped); wake() end
-- Borrow hook: their borrows end now too (slot freed, tokens kept, as at expiry).
local ended = 0
for _, h in ipairs(redis.call('ZRANGE', BASE .. 'bl', 0, tonumber(ARGV[3]) - 1)) do
  local wk = redis.call('HGET', BASE .. h, 'wk')
  if wk and dead[wk] then
    redis.call('ZADD', BASE .. 'bl', 0, h)
    ended = ended + 1
  end
end
if ended > 0 then borrow_expire(ended); wake() end
return reaped
`;

/**
 * ARGV[3] id. Cancel or expiry while waiting: out of its line. A leased task is left to its holder.
 * Returns the state it was in: 'waiting' (removed), 'leased' (kept), 'dead' (removed), or 'none'. Cost: ~8.
 */
export const WITHDRAW = `${PRELUDE}
local id = ARGV[3]
local m = BASE .. 'm:' .. id
local f = redis.call('HMGET', m, 'st', 'te', 'ti', 'bt', 'dl')
if f[1] == 'l' then return 'leased' end
if f[1] == 'd' then
  redis.call('LREM', K_X, 1, id)
  redis.call('HINCRBY', K_C, 'dead', -1)
  redis.call('DEL', m)
  return 'dead'
end
if f[1] == 'y' then
  redis.call('ZREM', BASE .. 'd', id)
  redis.call('HINCRBY', K_C, 'delayed', -1)
  redis.call('DEL', m)
  return 'delayed'
end
if f[1] ~= 'w' then return 'none' end
local q = BASE .. 'q:' .. f[2]
redis.call('ZREM', q, id)
redis.call('DEL', m)
dl_rem(id, f[5]) -- borrow hook: out of the rescue's index
count_waiting(f[2], f[3], -1, f[4])
if redis.call('ZCARD', q) == 0 then
  local counter = redis.call('ZSCORE', K_T, f[2])
  if counter then deactivate(f[2], tonumber(counter)) end
end
return 'waiting'
`;

/**
 * ARGV[3] max (<= 100). Expired leases back in line (or dead), and (borrow hook) expired borrows this
 * model lent freed. Returns {requeued, dead}. Cost: 2 + ~15 per lease.
 */
export const REQUEUE_EXPIRED = `${PRELUDE}
borrow_expire(tonumber(ARGV[3]))
local requeued, dead = requeue_expired(tonumber(ARGV[3]))
return {requeued, dead}
`;

/** ARGV[3] max (<= 100). Takes ids off the dead list and forgets them (the sweeper fails their tasks). Cost: 2 + 1 per id. */
export const TAKE_DEAD = `${PRELUDE}
local ids = redis.call('LPOP', K_X, tonumber(ARGV[3]))
if not ids then return {} end
for _, id in ipairs(ids) do redis.call('DEL', BASE .. 'm:' .. id) end
redis.call('HINCRBY', K_C, 'dead', -#ids)
return ids
`;

/**
 * ARGV[3] id. A waiting task's place estimate: its rank in its tenant's line scaled by the active
 * tenants' total weight over its tenant's (each active tenant gets its weight's share of dispatches),
 * capped by the waiting total. Returns {ahead, leased}, or nil when not waiting. Read-only; ~6 commands.
 */
export const PLACE = `${PRELUDE}
local f = redis.call('HMGET', BASE .. 'm:' .. ARGV[3], 'st', 'te')
if f[1] ~= 'w' then return nil end
local rank = redis.call('ZRANK', BASE .. 'q:' .. f[2], ARGV[3])
if not rank then return nil end
local total = tonumber(redis.call('HGET', K_S, 'aw') or '0')
local w = weight(f[2])
local ahead = rank
if total > w then ahead = math.floor(rank * total / w) end
local waiting = tonumber(redis.call('HGET', K_C, 'waiting') or '0')
if ahead > waiting - 1 then ahead = waiting - 1 end
if ahead < rank then ahead = rank end
return {ahead, tonumber(redis.call('HGET', K_C, 'leased') or '0')}
`;
