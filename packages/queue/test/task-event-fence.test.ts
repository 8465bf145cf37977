// The append script's fence (task-event-notices.ts): a task's stream refuses what a fenced-off attempt
// writes late (a worker woken after SIGSTOP, a long GC pause): nothing after the task's final event but the
// cancelled attempt's `output_kept`, and no event of an attempt older than the newest one the stream holds.
// The engine's own order (retries, a released attempt, cancels, a lost job's failure) is written as before.
import { eventually, testRedisClusterNodes, testRedisUrl, uniquePrefix } from "@llmq/testkit";
import { type KeySpace, type RedisConnection, type TaskEvent, TaskEventLog, closeRedis, createRedis, keySpace, parseClusterNodes } from "../src";

let redis: RedisConnection;
let subscriber: RedisConnection;
let keys: KeySpace;
let log: TaskEventLog;
let taskNumber = 0;

beforeAll(async () => {
  redis = createRedis(testRedisUrl(), { blocking: true });
  subscriber = createRedis(testRedisUrl(), { blocking: true });
  keys = keySpace(uniquePrefix());
  log = new TaskEventLog(redis, keys);
});
afterAll(async () => {
  await Promise.all([closeRedis(redis), closeRedis(subscriber)]);
});

const newTask = () => `fence${++taskNumber}`;
const pending: TaskEvent = { type: "status", status: "PENDING", attempt: 0 };
const running = (attempt: number): TaskEvent => ({ type: "status", status: "RUNNING", attempt });
const token = (attempt: number, n: number): TaskEvent => ({ type: "token", attempt, choice: 0, delta: `a${attempt}t${n} `, tokens: n, percent: n });
const ending = (status: "COMPLETED" | "FAILED" | "CANCELLED" | "EXPIRED", attempt: number, outputPending = false): TaskEvent[] => [
  { type: "status", status, attempt },
  { type: "final", status, ...(outputPending ? { outputPending: true as const } : {}) },
];
const appendIds = async (taskId: string, events: TaskEvent[]) => (await log.appendMany([{ taskId, events }]))[0]!;
/** The stream as stored: ids and every field of every entry. */
const raw = (taskId: string) => redis.xrange(keys.taskEvents(taskId), "-", "+");
const eventsOf = async (taskId: string) => (await log.readAfter(taskId, "0", 10_000)).map((entry) => entry.event);

/** Messages on the task's notify and final channels while `act` runs (a marker published after it bounds the wait). */
async function heard(taskId: string, act: () => Promise<unknown>): Promise<string[]> {
  const channels = [keys.taskNotify(taskId), keys.taskFinal(taskId)];
  const messages: string[] = [];
  const listener = (_channel: string, message: string) => messages.push(message);
  subscriber.on("message", listener);
  await subscriber.subscribe(...channels);
  try {
    await act();
    await redis.publish(channels[1]!, "marker");
    await eventually(async () => (messages.includes("marker") ? true : undefined), { what: "the marker" });
    return messages.filter((message) => message !== "marker");
  } finally {
    subscriber.off("message", listener);
    await subscriber.unsubscribe(...channels);
  }
}

describe("the task event stream's fence", () => {
  it("refuses anything but output_kept after the task's final event: the stream is unchanged and nobody is woken", async () => {
    // A task's stream opens with its first event after PENDING (the engine writes no PENDING for a new task).
    const taskId = newTask();
    await log.append(taskId, [running(1), token(1, 1)]);
    // Attempt 1's worker stops (SIGSTOP); attempt 2 takes over and completes.
    await log.append(taskId, [running(2), token(2, 1)]);
    await log.append(taskId, ending("COMPLETED", 2));
    const before = await raw(taskId);

    let ids: (string | null)[][] = [];
    const messages = await heard(taskId, async () => {
      ids = await log.appendMany([{ taskId, events: [token(1, 2)] }]);
      // Not even the newest attempt's late events, a status, or a second end.
      ids.push(await appendIds(taskId, [token(2, 2), running(3)]));
      ids.push(await appendIds(taskId, ending("FAILED", 2)));
    });
    expect(ids).toEqual([[null], [null, null], [null, null]]);
    expect(await raw(taskId)).toEqual(before);
    expect(messages).toEqual([]);
    expect((await eventsOf(taskId)).at(-1)).toEqual({ type: "final", status: "COMPLETED" });
  });

  it("refuses an attempt's events once a newer attempt's event is in the stream, and keeps the rest of a mixed append", async () => {
    // A task's stream opens with its first event after PENDING (the engine writes no PENDING for a new task).
    const taskId = newTask();
    await log.append(taskId, [running(1), token(1, 1)]);
    await log.append(taskId, [running(2)]);
    const before = await raw(taskId);
    // A late token, a late retry's PENDING and a late tool call of attempt 1.
    expect(await appendIds(taskId, [token(1, 2)])).toEqual([null]);
    expect(await appendIds(taskId, [{ type: "status", status: "PENDING", attempt: 1, error: { code: "upstream_error", message: "late" } }])).toEqual([null]);
    expect(await appendIds(taskId, [{ type: "tool_call", attempt: 1, choice: 0, index: 0, name: "f", arguments: "{}" }])).toEqual([null]);
    expect(await raw(taskId)).toEqual(before);

    // One append holding both (one writer process ran both attempts): attempt 2's event is written alone.
    let ids: (string | null)[] = [];
    const messages = await heard(taskId, async () => (ids = await appendIds(taskId, [token(1, 3), token(2, 1)])));
    expect(ids).toEqual([null, expect.any(String)]);
    expect(messages.map((message) => JSON.parse(message))).toEqual([{ p: before.at(-1)![0], e: [[ids[1], token(2, 1)]] }]);
    expect(await eventsOf(taskId)).toEqual([running(1), token(1, 1), running(2), token(2, 1)]);
  });

  it("writes the engine's own order as before: retries, a released attempt, cancels with output kept, a stale cancel, a lost job's failure", async () => {
    const orders: [string, TaskEvent[][]][] = [
      [
        "retried, then completed",
        [[running(1), token(1, 1)], [{ type: "status", status: "PENDING", attempt: 1, error: { code: "upstream_error", message: "502" } }], [running(2), token(2, 1)], ending("COMPLETED", 2)],
      ],
      // Handed back: the attempt is taken back, so the next start has its number again.
      ["released, started again with the same number, cancelled while running, output kept", [[running(1)], [{ type: "status", status: "PENDING", attempt: 1 }], [running(1), token(1, 1)], ending("CANCELLED", 1, true), [{ type: "output_kept", attempt: 1 }]]],
      // The cancel read the row before the takeover committed: its status event names attempt 1.
      ["cancelled with the attempt number read before a takeover", [[running(1), token(1, 1)], [running(2)], ending("CANCELLED", 1, true), [{ type: "output_kept", attempt: 2 }]]],
      // The kept output can land before the cancel's own events (two processes).
      ["output kept before the cancel's final", [[running(1), token(1, 1)], [{ type: "output_kept", attempt: 1 }], ending("CANCELLED", 1, true)]],
      // A job lost for good fails whatever ran, with attempt 0 in its event.
      ["a lost job failed after attempt 2 ran", [[running(1)], [running(2), token(2, 1)], ending("FAILED", 0)]],
      ["expired while pending", [ending("EXPIRED", 0)]],
    ];
    for (const [what, appends] of orders) {
      const taskId = newTask();
      const ids: (string | null)[] = [];
      for (const events of appends) ids.push(...(await appendIds(taskId, events)));
      expect([what, ids.filter((id) => id === null).length]).toEqual([what, 0]);
      expect([what, await eventsOf(taskId)]).toEqual([what, appends.flat()]);
    }
    // The final channel still hears the end.
    const finished = newTask();
    await log.append(finished, [running(1)]);
    const messages = await heard(finished, () => log.append(finished, ending("COMPLETED", 1)));
    expect(messages.map((message) => JSON.parse(message))).toContainEqual({ id: expect.any(String), status: "COMPLETED" });
  });

  it("fences streams written before entries carried the attempt (an `e` field only), and reads them mixed", async () => {
    const taskId = newTask();
    const key = keys.taskEvents(taskId);
    for (const event of [pending, running(1), token(1, 1)]) await redis.xadd(key, "*", "e", JSON.stringify(event));
    expect(await appendIds(taskId, [token(1, 2)])).toEqual([expect.any(String)]);
    await redis.xadd(key, "*", "e", JSON.stringify(running(2)));
    expect(await appendIds(taskId, [token(1, 3)])).toEqual([null]);

    const ended = newTask();
    for (const event of [pending, running(1), ...ending("CANCELLED", 1, true)]) await redis.xadd(keys.taskEvents(ended), "*", "e", JSON.stringify(event));
    expect(await appendIds(ended, [token(1, 2)])).toEqual([null]);
    expect(await appendIds(ended, [{ type: "output_kept", attempt: 1 }])).toEqual([expect.any(String)]);
    expect(await eventsOf(ended)).toEqual([pending, running(1), ...ending("CANCELLED", 1, true), { type: "output_kept", attempt: 1 }]);
    expect(await eventsOf(taskId)).toEqual([pending, running(1), token(1, 1), token(1, 2), running(2)]);
  });

  it("on a Redis Cluster: each call touches its task's stream alone, and streams in many slots are fenced alike", async () => {
    const cluster = createRedis(parseClusterNodes(testRedisClusterNodes()), { blocking: true, name: "fence-cluster" });
    try {
      const clusterKeys = keySpace(uniquePrefix());
      const onCluster = new TaskEventLog(cluster, clusterKeys);
      const tasks = Array.from({ length: 12 }, () => newTask());
      await onCluster.appendMany(tasks.map((taskId) => ({ taskId, events: [running(1), token(1, 1), running(2)] })));
      await onCluster.appendMany(tasks.map((taskId, i) => ({ taskId, events: i % 2 === 0 ? ending("COMPLETED", 2) : [token(2, 1)] })));
      const late = await onCluster.appendMany(tasks.map((taskId) => ({ taskId, events: [token(1, 2)] })));
      expect(late).toEqual(tasks.map(() => [null]));
      const slots = new Set(await Promise.all(tasks.map(async (taskId) => Number(await cluster.call("CLUSTER", "KEYSLOT", clusterKeys.taskEvents(taskId))))));
      expect(slots.size).toBeGreaterThan(1);
      for (const [i, taskId] of tasks.entries()) {
        expect((await onCluster.readAfter(taskId, "0")).map((entry) => entry.event)).toEqual([running(1), token(1, 1), running(2), ...(i % 2 === 0 ? ending("COMPLETED", 2) : [token(2, 1)])]);
      }
    } finally {
      await closeRedis(cluster);
    }
  });
});
