import { eventually, testRedisUrl, uniquePrefix } from "@llmq/testkit";
import { type KeySpace, type RedisConnection, type TaskEvent, TaskEventLog, closeRedis, createRedis, keySpace } from "../src";

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

const newTask = () => `task${++taskNumber}`;
/** `append`, answering the new entries' ids (appendMany answers them); these tests append nothing the stream refuses. */
const appendIds = async (taskId: string, events: TaskEvent[]) =>
  (await log.appendMany([{ taskId, events }]))[0]!.map((id) => {
    if (id === null) throw new Error(`task ${taskId}: the stream refused an event`);
    return id;
  });
const token = (n: number, delta = `t${n}`): TaskEvent => ({ type: "token", attempt: 1, delta, tokens: n, percent: n });
const running: TaskEvent = { type: "status", status: "RUNNING", attempt: 1 };
const ending: TaskEvent[] = [
  { type: "status", status: "COMPLETED", attempt: 1 },
  { type: "final", status: "COMPLETED" },
];

/** Messages published on `channel` while `act` runs (and a moment after, until `expected` arrived). */
async function published(channel: string, expected: number, act: () => Promise<unknown>): Promise<string[]> {
  const messages: string[] = [];
  const listener = (from: string, message: string) => {
    if (from === channel) messages.push(message);
  };
  subscriber.on("message", listener);
  await subscriber.subscribe(channel);
  try {
    await act();
    await eventually(async () => (messages.length >= expected ? true : undefined), { what: `${expected} messages on ${channel}` });
    return messages;
  } finally {
    subscriber.off("message", listener);
    await subscriber.unsubscribe(channel);
  }
}

describe("TaskEventLog.append and readAfter", () => {
  it("appends in order and reads from the start or after any id", async () => {
    const taskId = newTask();
    await log.append(taskId, [running, token(1)]);
    const first = (await log.readAfter(taskId, "0")).map((entry) => entry.id);
    const second = await appendIds(taskId, [token(2), token(3)]);
    expect(first).toHaveLength(2);
    expect(second).toHaveLength(2);
    const all = await log.readAfter(taskId, "0");
    expect(all.map((entry) => entry.id)).toEqual([...first, ...second]);
    expect(all.map((entry) => entry.event)).toEqual([running, token(1), token(2), token(3)]);
    expect((await log.readAfter(taskId, first[1]!)).map((entry) => entry.event)).toEqual([token(2), token(3)]);
    expect(await log.readAfter(taskId, second[1]!)).toEqual([]);
    expect((await log.readAfter(taskId, "0", 3)).map((entry) => entry.id)).toEqual([...first, second[0]]);
    expect(await log.lastId(taskId)).toBe(second[1]);
    expect(await log.lastId(newTask())).toBeNull();
    // Nothing to append is no write at all.
    await log.append(taskId, []);
    expect(await log.readAfter(taskId, "0")).toHaveLength(4);
  });

  it("wakes subscribers with the new entries and the id of the entry before them", async () => {
    const taskId = newTask();
    const channel = keys.taskNotify(taskId);
    let ids: string[] = [];
    const [message] = await published(channel, 1, async () => (ids = await appendIds(taskId, [running, token(1)])));
    expect(JSON.parse(message!)).toEqual({ p: "0-0", e: [[ids[0], running], [ids[1], token(1)]] });
    let more: string[] = [];
    const [next] = await published(channel, 1, async () => (more = await appendIds(taskId, [token(2)])));
    expect(JSON.parse(next!)).toEqual({ p: ids[1], e: [[more[0], token(2)]] });
  });

  it("names only the ids when the events are large, so messages stay small", async () => {
    const taskId = newTask();
    const big = token(1, "x".repeat(100_000));
    await log.append(taskId, [running]);
    const before = (await log.lastId(taskId))!;
    let ids: string[] = [];
    const [message] = await published(keys.taskNotify(taskId), 1, async () => (ids = await appendIds(taskId, [big, token(2)])));
    expect(message!.length).toBeLessThan(200);
    expect(JSON.parse(message!)).toEqual({ p: before, l: ids[1] });
    expect((await log.readAfter(taskId, before)).map((entry) => entry.event)).toEqual([big, token(2)]);
  });

  it("announces a final event on the task's final channel, and only then", async () => {
    const taskId = newTask();
    let ids: string[] = [];
    const messages = await published(keys.taskFinal(taskId), 1, async () => {
      await log.append(taskId, [running, token(1)]);
      await log.append(taskId, [token(2)]);
      ids = await appendIds(taskId, ending);
    });
    // Messages of one connection arrive in order: one of the first appends would have come first.
    expect(messages.map((message) => JSON.parse(message))).toEqual([{ id: ids[1], status: "COMPLETED" }]);
  });
});

describe("TaskEventLog expiry and bounds", () => {
  it("sets the stream's expiry when it is created, not on every append", async () => {
    // Appends in one twelfth of the TTL (5 minutes) leave the expiry alone: start well inside one.
    const window = 300_000;
    const into = Date.now() % window;
    if (into > window - 2_000) await new Promise((resolve) => setTimeout(resolve, window - into + 10));
    const taskId = newTask();
    const key = keys.taskEvents(taskId);
    await log.append(taskId, [running]);
    expect(await redis.ttl(key)).toBeGreaterThan(3_590);
    // An hour was set; token appends leave what is left of it alone.
    await redis.expire(key, 2_500);
    await log.append(taskId, [token(1)]);
    await log.append(taskId, [token(2)]);
    const ttl = await redis.ttl(key);
    expect(ttl).toBeLessThanOrEqual(2_500);
    expect(ttl).toBeGreaterThan(2_400);
  });

  it("refreshes the expiry on demand and on a final event, so a stream lives its TTL after its task ended", async () => {
    const taskId = newTask();
    const key = keys.taskEvents(taskId);
    await log.append(taskId, [running]);
    await redis.expire(key, 2_500);
    await log.append(taskId, [token(1)], { refreshTtl: true });
    expect(await redis.ttl(key)).toBeGreaterThan(3_590);

    await redis.expire(key, 2_500);
    await log.append(taskId, ending);
    expect(await redis.ttl(key)).toBeGreaterThan(3_590);
  });

  it("refreshes the expiry of a stream still written a twelfth of its TTL after its last entry", async () => {
    const taskId = newTask();
    const key = keys.taskEvents(taskId);
    // An entry written ten minutes ago, and the expiry as it would stand by now.
    await redis.xadd(key, `${Date.now() - 600_000}-0`, "e", JSON.stringify(running));
    await redis.expire(key, 2_500);
    await log.append(taskId, [token(1)]);
    expect(await redis.ttl(key)).toBeGreaterThan(3_590);
  });

  it("keeps a stream bounded, dropping its oldest entries", async () => {
    const small = new TaskEventLog(redis, keys, { maxLen: 100 });
    const taskId = newTask();
    for (let start = 0; start < 1_000; start += 50) await small.append(taskId, Array.from({ length: 50 }, (_, i) => token(start + i + 1)));
    const length = await redis.xlen(keys.taskEvents(taskId));
    expect(length).toBeGreaterThanOrEqual(100);
    expect(length).toBeLessThanOrEqual(200);
    const kept = await small.readAfter(taskId, "0", 1_000);
    expect(kept[kept.length - 1]!.event).toEqual(token(1_000));
  });
});

describe("TaskEventLog.appendMany", () => {
  it("appends for many tasks in one round trip, each stream in order, answering the ids per task", async () => {
    const tasks = Array.from({ length: 30 }, () => newTask());
    const ids = await log.appendMany(tasks.map((taskId, i) => ({ taskId, events: [running, token(i + 1)] })));
    expect(ids).toHaveLength(30);
    for (const [i, taskId] of tasks.entries()) {
      const entries = await log.readAfter(taskId, "0");
      expect(entries.map((entry) => entry.id)).toEqual(ids[i]);
      expect(entries.map((entry) => entry.event)).toEqual([running, token(i + 1)]);
      expect(await redis.ttl(keys.taskEvents(taskId))).toBeGreaterThan(3_590);
    }
    // A task with nothing to append is skipped and answers no ids.
    const [none, some] = await log.appendMany([
      { taskId: tasks[0]!, events: [] },
      { taskId: tasks[1]!, events: [token(9)] },
    ]);
    expect(none).toEqual([]);
    expect(some).toHaveLength(1);
  });

  it("writes every other task when one task's append fails, then reports the failed one", async () => {
    const [good, bad, alsoGood] = [newTask(), newTask(), newTask()];
    await redis.set(keys.taskEvents(bad), "not a stream");
    const failure = await log
      .appendMany([
        { taskId: good, events: [running] },
        { taskId: bad, events: [running] },
        { taskId: alsoGood, events: [running] },
      ])
      .then(
        () => null,
        (error: unknown) => error,
      );
    expect(failure).toBeInstanceOf(AggregateError);
    expect((failure as AggregateError).message).toContain(bad);
    expect((failure as AggregateError).errors).toHaveLength(1);
    expect(String((failure as AggregateError).errors[0])).toMatch(new RegExp(`task ${bad}: WRONGTYPE`));
    expect(await log.readAfter(good, "0")).toHaveLength(1);
    expect(await log.readAfter(alsoGood, "0")).toHaveLength(1);
  });

  it("ends the streams of thousands of tasks at once (appendMany, 1,000 tasks per round trip)", async () => {
    const tasks = Array.from({ length: 2_500 }, (_, i) => ({ id: newTask(), attempts: i % 3 }));
    await log.appendMany(
      tasks.map((task) => ({
        taskId: task.id,
        events: [
          { type: "status", status: "EXPIRED", attempt: task.attempts },
          { type: "final", status: "EXPIRED" },
        ],
      })),
    );
    for (const task of [tasks[0]!, tasks[1_234]!, tasks[2_499]!]) {
      expect((await log.readAfter(task.id, "0")).map((entry) => entry.event)).toEqual([
        { type: "status", status: "EXPIRED", attempt: task.attempts },
        { type: "final", status: "EXPIRED" },
      ]);
    }
  });
});
