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
 * The expiry is set when the stream is new, on request (`refresh`), on a final event (a stream lives its
 * whole TTL after its task ended), and by the first append of each twelfth of the TTL (the new entry's
 * time and the one before it fall in different windows), so a stream being written never gets close to
 * expiring, and a token append costs neither an EXPIRE nor a TTL.
 *
 * KEYS[1]: stream. ARGV: notify channel, final channel, max length, TTL seconds, refresh (1/0),
 * inline (1/0), final status ("" if none), the finished row's JSON ("" if none), then one JSON event per
 * entry.
 */
export const APPEND_SCRIPT = `
local stream = KEYS[1]
local tail = redis.call('XREVRANGE', stream, '+', '-', 'COUNT', 1)
local previous = '0-0'
if tail[1] then previous = tail[1][1] end
local inline = ARGV[6] == '1'
local ids, parts = {}, {}
for i = 9, #ARGV do
  local id = redis.call('XADD', stream, 'MAXLEN', '~', ARGV[3], '*', 'e', ARGV[i])
  ids[#ids + 1] = id
  if inline then parts[#parts + 1] = '["' .. id .. '",' .. ARGV[i] .. ']' end
end
local ttl = tonumber(ARGV[4])
local last = ids[#ids]
local window = ttl * 1000 / 12
local function window_of(id) return math.floor(tonumber(string.match(id, '^(%d+)')) / window) end
if previous == '0-0' or ARGV[5] == '1' or ARGV[7] ~= '' or window_of(previous) ~= window_of(last) then
  redis.call('EXPIRE', stream, ttl)
end
if inline then
  redis.call('PUBLISH', ARGV[1], '{"p":"' .. previous .. '","e":[' .. table.concat(parts, ',') .. ']}')
else
  redis.call('PUBLISH', ARGV[1], '{"p":"' .. previous .. '","l":"' .. last .. '"}')
end
if ARGV[7] ~= '' then
  local task = ''
  if ARGV[8] ~= '' then task = ',"task":' .. ARGV[8] end
  redis.call('PUBLISH', ARGV[2], '{"id":"' .. last .. '","status":"' .. ARGV[7] .. '"' .. task .. '}')
end
return ids
`;

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
