import { assertNever, isFinal } from "@llmq/core";
import { type TaskEvent, type TaskEventEntry, isStreamId } from "./task-events";

/**
 * The append of one task's events, as one Lua script: the entries, the stream's expiry and the readers'
 * wake-up happen in one command, atomically, with the new ids known inside it (a pipeline would know
 * them only after it ran). Readers are sent the data itself:
 *
 * - notify channel: `{"p": previousId, "e": [[id, event], ...]}`, or `{"p": previousId, "l": lastId}`
 *   when the events are too large to send (the reader reads them). `previousId` is the id of the entry
 *   before the first new one ("0-0" for a new stream): a reader whose last id is at least `previousId`
 *   has missed nothing, otherwise a message was lost (pub/sub is at most once) and it reads the gap.
 * - final channel (only when a final event is appended): `{"id": lastId, "status": status}`, with
 *   `"task": {...}` when the writer gave the finished row (a completion; small enough to send), so a
 *   waiter answers from it without reading the row again. The row is not stored in the stream.
 *
 * The fence: the stream refuses what a fenced-off attempt writes late (a worker woken after SIGSTOP or a
 * long pause, between its last confirmation in Postgres and its socket write). Each entry carries, beside
 * its event (`e`), the stream's state once it is written (`a`): the newest attempt the stream holds, with
 * `f` appended once the task's final event is in (`"2"`, `"2f"`), so the state is read from the entry
 * the script reads anyway (XREVRANGE COUNT 1), with no JSON decoding; an entry written before the field
 * existed is decoded instead (its event says the same). Each event comes with a tag the writer derives
 * from it (taskTagOf): `r<n>` an event of running attempt n (token, tool call, RUNNING, a retry's or
 * hand-back's PENDING), `e<n>` a final status (the transition's own event), `f` the final event, `k<n>`
 * a cancelled attempt's `output_kept`. Refused:
 * - after the final event, everything but `k`: the task ended (a final status never changes, and a
 *   cancelled attempt's kept output is the one thing the engine writes after it);
 * - `r<n>` with n older than the newest attempt: another attempt took the task over.
 * Final statuses and `output_kept` are not fenced by attempt: Postgres fenced them already (one final
 * transition per task), and they may name an older attempt (a cancel reads the row before it commits; a
 * job lost for good fails with attempt 0). A refused event is neither written nor published; its place
 * in the reply is null, so the writer knows (a worker then stops its stale attempt).
 *
 * The expiry is set when the stream is new, on request (`refresh`), on a final event (a stream lives its
 * whole TTL after its task ended), and by the first append of each twelfth of the TTL (the new entry's
 * time and the one before it fall in different windows), so a stream being written never gets close to
 * expiring, and a token append costs neither an EXPIRE nor a TTL. An append whose events were all
 * refused writes nothing, expires nothing and publishes nothing.
 *
 * KEYS[1]: stream. ARGV: notify channel, final channel, max length, TTL seconds, refresh (1/0),
 * inline (1/0), final status ("" if none), the finished row's JSON ("" if none), then per event its tag
 * and its JSON. Answers each event's entry id, null for an event refused.
 */
export const APPEND_SCRIPT = `
local stream = KEYS[1]
local tail = redis.call('XREVRANGE', stream, '+', '-', 'COUNT', 1)
local previous = '0-0'
local newest, ended = 0, false
if tail[1] then
  previous = tail[1][1]
  local fields = tail[1][2]
  if fields[3] == 'a' then
    local n, f = string.match(fields[4], '^(%d+)(f?)$')
    newest, ended = tonumber(n) or 0, f == 'f'
  else
    local ok, event = pcall(cjson.decode, fields[2] or '')
    if ok and type(event) == 'table' then
      if type(event.attempt) == 'number' then newest = event.attempt end
      ended = event.type == 'final'
    end
  end
end
local inline = ARGV[6] == '1'
local ids, parts, last, final_written = {}, {}, nil, false
for i = 9, #ARGV, 2 do
  local tag, json = ARGV[i], ARGV[i + 1]
  local kind, n = string.sub(tag, 1, 1), tonumber(string.sub(tag, 2))
  local accepted
  if ended then accepted = kind == 'k'
  elseif kind == 'r' then accepted = (n or 0) >= newest
  else accepted = true end
  if accepted then
    if n and n > newest then newest = n end
    if kind == 'f' then ended, final_written = true, true end
    local state = tostring(newest)
    if ended then state = state .. 'f' end
    last = redis.call('XADD', stream, 'MAXLEN', '~', ARGV[3], '*', 'e', json, 'a', state)
    ids[#ids + 1] = last
    if inline then parts[#parts + 1] = '["' .. last .. '",' .. json .. ']' end
  else
    ids[#ids + 1] = false
  end
end
if not last then return ids end
local ttl = tonumber(ARGV[4])
local window = ttl * 1000 / 12
local function window_of(id) return math.floor(tonumber(string.match(id, '^(%d+)')) / window) end
if previous == '0-0' or ARGV[5] == '1' or final_written or window_of(previous) ~= window_of(last) then
  redis.call('EXPIRE', stream, ttl)
end
if inline then
  redis.call('PUBLISH', ARGV[1], '{"p":"' .. previous .. '","e":[' .. table.concat(parts, ',') .. ']}')
else
  redis.call('PUBLISH', ARGV[1], '{"p":"' .. previous .. '","l":"' .. last .. '"}')
end
if final_written and ARGV[7] ~= '' then
  local task = ''
  if ARGV[8] ~= '' then task = ',"task":' .. ARGV[8] end
  redis.call('PUBLISH', ARGV[2], '{"id":"' .. last .. '","status":"' .. ARGV[7] .. '"' .. task .. '}')
end
return ids
`;

/** An event's tag for the append script's fence (see APPEND_SCRIPT): what kind of event, of which attempt. */
export function taskTagOf(event: TaskEvent): string {
  switch (event.type) {
    case "final":
      return "f";
    case "output_kept":
      return `k${event.attempt}`;
    case "status":
      return `${isFinal(event.status) ? "e" : "r"}${event.attempt}`;
    case "token":
    case "tool_call":
      return `r${event.attempt}`;
    default:
      return assertNever(event);
  }
}

/** What an append told the task's readers: the new entries, or (too large to send) the last new id. */
export interface TaskEventNotice {
  previousId: string;
  lastId: string;
  entries: TaskEventEntry[] | null;
}

/** Reads a notify message; null for anything else (a reader then reads the stream: it costs a read, never an event). */
export function parseNotice(message: string): TaskEventNotice | null {
  try {
    const value = JSON.parse(message) as { p?: unknown; e?: unknown; l?: unknown };
    if (typeof value.p !== "string" || !isStreamId(value.p)) return null;
    if (typeof value.l === "string" && isStreamId(value.l)) return { previousId: value.p, lastId: value.l, entries: null };
    if (!Array.isArray(value.e) || value.e.length === 0) return null;
    const entries: TaskEventEntry[] = [];
    for (const item of value.e as unknown[]) {
      if (!Array.isArray(item) || typeof item[0] !== "string" || !isStreamId(item[0]) || typeof item[1] !== "object" || item[1] === null) return null;
      entries.push({ id: item[0], event: item[1] as TaskEvent });
    }
    return { previousId: value.p, lastId: entries[entries.length - 1]!.id, entries };
  } catch {
    return null;
  }
}

/** What a final channel message says: the task's final status and, when its writer sent it, the finished row's JSON. */
export interface FinalNotice {
  status: string | null;
  /** The finished row as its writer sent it (see TaskEventAppend.finishedTask), parsed; null when the message has none. */
  task: object | null;
}

/** Reads a final channel message; anything unreadable is a bare "it ended" (the waiter reads the row). */
export function parseFinalNotice(message: string): FinalNotice {
  try {
    const value = JSON.parse(message) as { status?: unknown; task?: unknown };
    return {
      status: typeof value.status === "string" ? value.status : null,
      task: typeof value.task === "object" && value.task !== null ? value.task : null,
    };
  } catch {
    return { status: null, task: null };
  }
}
