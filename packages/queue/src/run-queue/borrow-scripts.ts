import { PRELUDE } from "./scripts";

/**
 * The fallback scripts (issue 16, borrow), on the run queue's prelude (same six KEYS, ARGV[1] base,
 * ARGV[2] now). Keys and the borrow_* / dl_* functions: borrow-lua.ts. A model's keys and its
 * fallback's are in different hash slots, so a borrow is two calls: BORROW on the fallback's queue,
 * then LEASE_FOR_BORROW on the model's own; each side is a lease that ends by itself.
 */

/**
 * On the fallback's queue. ARGV[3] worker, [4] estimated tokens, [5] lease ms, [6] the borrowing model
 * (kept for the record), [7] count of excluded upstreams (<= 16), then their names, then the fallback's
 * upstreams. Prelude: its expired borrows freed, its expired leases and due retries back in line (they
 * are its own work). Lends only while nothing of its own waits and it is not paused; then reserves the
 * upstream with room and least load, as its own DISPATCH would for a task of that estimate (slot,
 * request, tokens; the probe when half-open), under a lease. Returns {'granted', holder, token,
 * upstream, lease end}, {'busy'}, {'paused'} or {'blocked', why, wake, reasons}. Cost: ~7 + ~5 per
 * upstream read + ~5 to grant.
 */
export const BORROW = `${PRELUDE}
borrow_expire(100)
requeue_expired(100)
promote_due(100)
if redis.call('HGET', K_S, 'paused') == '1' then return {'paused'} end
if redis.call('ZCARD', K_T) > 0 then return {'busy'} end
local nx = math.min(tonumber(ARGV[7]) or 0, 16)
local exclude = {}
for i = 1, nx do exclude[ARGV[7 + i]] = true end
local list = up_params(8 + nx)
local est = tonumber(ARGV[4])
local p = up_choose(list, est, exclude)
if not p then
  local why, wake, reasons = up_why(list, est, exclude)
  return {'blocked', why, wake, reasons}
end
local n = redis.call('HINCRBY', K_S, 'tok', 1)
local holder = 'b:' .. n
local token = ARGV[3] .. ':' .. n
local leaseUntil = NOW + tonumber(ARGV[5])
local bm = BASE .. holder
redis.call('HSET', bm, 'tk', token, 'wk', ARGV[3], 'lu', leaseUntil, 'es', est, 'fr', ARGV[6], 'la', NOW, unpack(up_reserve(p, holder, est)))
redis.call('ZADD', BASE .. 'bl', leaseUntil, holder)
return {'granted', holder, token, p.name, leaseUntil}
`;

/**
 * On the fallback's queue. ARGV[3] holder, [4] token, [5] actual tokens ('' = release: nothing was
 * served). Ends the borrow: its slot (and probe) freed, its tokens corrected to the real usage or
 * refunded; its request stays counted. Wakes the fallback's blocked loops when its own tasks wait. A
 * wrong or stale token changes nothing. Returns 1 or 0. Cost: ~8.
 */
export const END_BORROW = `${PRELUDE}
local bm = BASE .. ARGV[3]
if redis.call('HGET', bm, 'tk') ~= ARGV[4] then return 0 end
local actual = -1
if ARGV[5] ~= '' then actual = math.max(0, tonumber(ARGV[5])) end
up_release(ARGV[3], bm, actual)
redis.call('DEL', bm)
redis.call('ZREM', BASE .. 'bl', ARGV[3])
if redis.call('ZCARD', K_T) > 0 then wake() end
return 1
`;

/** On the fallback's queue. ARGV[3] holder, [4] token, [5] lease ms. Extends the borrow's lease. Returns 1 or 0. Cost: 3. */
export const RENEW_BORROW = `${PRELUDE}
local bm = BASE .. ARGV[3]
if redis.call('HGET', bm, 'tk') ~= ARGV[4] then return 0 end
local leaseUntil = NOW + tonumber(ARGV[5])
redis.call('HSET', bm, 'lu', leaseUntil)
redis.call('ZADD', BASE .. 'bl', 'XX', leaseUntil, ARGV[3])
return 1
`;

/**
 * On the model's own queue. ARGV[3] worker, [4] lease ms, [5] the fallback it runs on (kept as 'bo'),
 * [6] 'head' or 'id', [7] the borrowed estimate (head) or the task id. Prelude as DISPATCH's (expired
 * leases and due retries back in line, so the order is current). Leases ONE task without reserving any
 * of the model's upstreams (no 'up': its settle, release and expiry leave them alone):
 * - head: the task the fair order picks next (lowest counter's tenant, its best score), charged and
 *   counted exactly as DISPATCH does, if its estimate fits in the borrow; else {'larger', id, estimate};
 * - id: that task if it still waits (an expiry rescue), its tenant charged; the fair clock stays.
 * Returns {'leased', token, lease end, row} (row as DISPATCH's), or {'larger', id, est}, {'empty'},
 * {'gone'}, {'paused'}. Cost: ~20 (as a one-task DISPATCH).
 */
export const LEASE_FOR_BORROW = `${PRELUDE}
requeue_expired(100)
promote_due(100)
if redis.call('HGET', K_S, 'paused') == '1' then return {'paused'} end
local id, counter, fair
if ARGV[6] == 'head' then
  -- Bounded: each turn finds the head or drops one empty tenant (an inconsistency), at most 16.
  for _ = 1, 16 do
    local low = redis.call('ZRANGE', K_T, 0, 0, 'WITHSCORES')
    if not low[1] then break end
    local head = redis.call('ZRANGE', BASE .. 'q:' .. low[1], 0, 0)
    if head[1] then
      id, counter, fair = head[1], tonumber(low[2]), true
      break
    end
    deactivate(low[1], tonumber(low[2]))
  end
  if not id then return {'empty'} end
else
  id = ARGV[7]
end
local m = BASE .. 'm:' .. id
local f = redis.call('HMGET', m, 'st', 'te', 'ti', 'es', 'cp', 'dl', 'tr', 'sc', 'bt')
if f[1] ~= 'w' then return {'gone'} end
local est = tonumber(f[4]) or 1
if fair and est > tonumber(ARGV[7]) then return {'larger', id, est} end
local tenant = f[2]
local q = BASE .. 'q:' .. tenant
redis.call('ZREM', q, id)
if not fair then counter = tonumber(redis.call('ZSCORE', K_T, tenant)) or 0 end
local charge = est / weight(tenant)
if fair then redis.call('HSET', K_S, 'vclock', counter) end
if redis.call('ZCARD', q) == 0 then deactivate(tenant, counter + charge)
else redis.call('ZADD', K_T, counter + charge, tenant) end
local token = ARGV[3] .. ':' .. redis.call('HINCRBY', K_S, 'tok', 1)
local leaseUntil = NOW + tonumber(ARGV[4])
redis.call('HSET', m, 'st', 'l', 'wk', ARGV[3], 'tk', token, 'lu', leaseUntil, 'ch', charge, 'la', NOW, 'bo', ARGV[5])
redis.call('ZADD', K_R, leaseUntil, id)
dl_rem(id, f[6])
count_waiting(tenant, f[3], -1, f[9])
redis.call('HINCRBY', K_C, 'leased', 1)
return {'leased', token, leaseUntil, { id, tenant, f[3], f[5] or '', f[6] or '', f[7] or '0', f[8] or '0', '' }}
`;

/**
 * On the model's own queue. ARGV[3] within ms, [4] max (<= 100). The waiting tasks whose queue deadline
 * falls in (now, now + within], soonest first, at most max: the expiry rescue's candidates (a worker
 * borrows a fallback for them while the model has no room). Read-only. Returns {{id, tenant, tier,
 * estimate, deadline}...}. Cost: 1 + 1 per task (the deadline index holds only waiting tasks).
 */
export const DUE_SOON = `#!lua flags=no-writes
${PRELUDE}
local ids = redis.call('ZRANGEBYSCORE', BASE .. 'dl', '(' .. NOW, NOW + tonumber(ARGV[3]), 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[4]))
local out = {}
for k = 1, #ids, 2 do
  local f = redis.call('HMGET', BASE .. 'm:' .. ids[k], 'st', 'te', 'ti', 'es')
  if f[1] == 'w' then out[#out + 1] = { ids[k], f[2], f[3], f[4], ids[k + 1] } end
end
return out
`;
