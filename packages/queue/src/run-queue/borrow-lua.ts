/**
 * Fallbacks (issue 16, borrow): Lua functions included in every run-queue script's prelude, after the
 * upstream library (they use up_release).
 *
 * Keys (under the model's hash tag, built from BASE):
 *   dl        zset  waiting task ids that have a queue deadline -> deadline (ms): the expiry rescue's
 *                   index. Exact: a task is in it exactly while it waits (ENQUEUE and every way back
 *                   in line add it; DISPATCH, a borrow's lease and WITHDRAW take it out).
 *   bl        zset  borrows this model lends (holder -> lease end), when it is another model's fallback
 *   b:<n>     hash  one borrow (holder `b:<n>`): tk token, wk worker, lu lease end, es estimate, fr the
 *                   borrowing model, la when granted, and the upstream reservation's up/um/upr (the
 *                   same fields a task hash holds, so up_release frees it like a task's)
 * A task of this model leased for a borrow holds `bo` (the fallback it runs on) and no `up`.
 */
export const BORROW_LIB = `
local function dl_add(id, deadline)
  if deadline and deadline ~= '' then redis.call('ZADD', BASE .. 'dl', deadline, id) end
end

-- Many at once: 'scored' is { deadline, id, deadline, id, ... } (ENQUEUE's entries with a deadline).
local function dl_add_many(scored)
  if #scored > 0 then redis.call('ZADD', BASE .. 'dl', unpack(scored)) end
end

local function dl_rem(id, deadline)
  if deadline and deadline ~= '' then redis.call('ZREM', BASE .. 'dl', id) end
end

-- Whether an expired borrow could be what blocks: it held a concurrency slot or the breaker's probe
-- (its tokens and requests stay counted anyway). 'reasons' is up_why's {name, reason, ...}.
local function borrow_may_free(reasons)
  for k = 2, #reasons, 2 do
    if reasons[k] == 'concurrency' or reasons[k] == 'probing' then return true end
  end
  return false
end

-- Borrows whose lease ended (at most 'max'): their slot is freed and their tokens stay (the request may
-- have run), as for an expired task lease; nothing goes back in any line (a borrow is not a task).
local function borrow_expire(max)
  local holders = redis.call('ZRANGEBYSCORE', BASE .. 'bl', '-inf', NOW, 'LIMIT', 0, max)
  for _, h in ipairs(holders) do
    redis.call('ZREM', BASE .. 'bl', h)
    up_release(h, BASE .. h, nil)
    redis.call('DEL', BASE .. h)
  end
  return #holders
end
`;
