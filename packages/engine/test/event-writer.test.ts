import { createLogger } from "@llmq/config";
import { type RedisConnection, type TaskEvent, type TaskEventAppend, TaskEventLog, closeRedis, createRedis, keySpace } from "@llmq/queue";
import { testRedisUrl, uniquePrefix } from "@llmq/testkit";
import { EventWriter } from "../src";

// Task events go to Redis in groups: everything pushed while a write is on its way leaves together as
// soon as it is back. An idle writer must not hold the first event for a batching window (it was sent
// one event-loop turn later, behind every other callback of that turn): it sends it at once.

const logger = createLogger({ name: "event-writer-test", level: "silent" });
const token = (n: number): TaskEvent => ({ type: "token", attempt: 1, choice: 0, delta: `t${n}`, tokens: n, percent: n });

describe("EventWriter", () => {
  let redis: RedisConnection;
  let log: TaskEventLog;
  /** Each appendMany call: the tasks and events it carried. */
  let calls: TaskEventAppend[][];
  let writer: EventWriter;

  beforeAll(() => {
    redis = createRedis(testRedisUrl(), { blocking: true, name: "event-writer-test" });
    log = new TaskEventLog(redis, keySpace(uniquePrefix()));
  });
  beforeEach(() => {
    calls = [];
    writer = new EventWriter(
      {
        appendMany: (items) => {
          calls.push(items.map((item) => ({ ...item, events: [...item.events] })));
          return log.appendMany(items);
        },
      },
      logger,
    );
  });
  afterAll(() => closeRedis(redis));

  it("an idle writer sends a pushed event at once, before the event loop's next turn", async () => {
    const written = writer.push("task-idle", [token(1)]);
    // Once the code that pushed yields, the append is on its way: no timer, I/O callback or turn came
    // first (it used to wait for the next turn's setImmediate, behind every callback of this one).
    await Promise.resolve();
    expect(calls).toHaveLength(1);
    await written;
    expect((await log.readAfter("task-idle", "0")).map((entry) => entry.event)).toEqual([token(1)]);
  });

  it("events of one synchronous run leave together, and those pushed meanwhile follow in one write, in order", async () => {
    const first = writer.push("task-a", [token(1)]);
    writer.pushQuietly("task-b", [token(1)]);
    writer.pushQuietly("task-a", [token(2)]);
    await Promise.resolve();
    // On its way now: pushes from here wait for it and leave together.
    writer.pushQuietly("task-a", [token(3)]);
    writer.pushQuietly("task-b", [token(2)]);
    const last = writer.push("task-a", [token(4)]);
    await Promise.all([first, last]);
    await writer.flush();
    expect(calls.map((call) => call.map((item) => [item.taskId, item.events.map((event) => (event as { tokens: number }).tokens)]))).toEqual([
      [
        ["task-a", [1, 2]],
        ["task-b", [1]],
      ],
      [
        ["task-a", [3, 4]],
        ["task-b", [2]],
      ],
    ]);
    expect((await log.readAfter("task-a", "0")).map((entry) => entry.event)).toEqual([token(1), token(2), token(3), token(4)]);
    expect((await log.readAfter("task-b", "0")).map((entry) => entry.event)).toEqual([token(1), token(2)]);
  });

  it("busy (a write came back this turn): what is pushed waits for the turn's end and leaves in one write", async () => {
    await writer.push("task-busy", [token(1)]);
    // Microtasks only: still the turn in which the write came back, and the writer has let go of it.
    for (let i = 0; i < 10; i++) await Promise.resolve();
    // These leave together, at the turn's end.
    const second = writer.push("task-busy", [token(2)]);
    await Promise.resolve();
    expect(calls).toHaveLength(1);
    const third = writer.push("task-busy-2", [token(1)]);
    await Promise.all([second, third]);
    expect(calls.map((call) => call.map((item) => item.taskId))).toEqual([["task-busy"], ["task-busy", "task-busy-2"]]);
    // A later turn with nothing written in it: idle again, sent at once.
    await new Promise((resolve) => setTimeout(resolve, 5));
    void writer.push("task-busy", [token(3)]);
    await Promise.resolve();
    expect(calls).toHaveLength(3);
    await writer.flush();
  });

  it("tells each push whether its events were written: those a stream refused (a fenced-off attempt's) answer false", async () => {
    const running = (attempt: number): TaskEvent => ({ type: "status", status: "RUNNING", attempt });
    const ofAttempt2: TaskEvent = { type: "token", attempt: 2, choice: 0, delta: "t2", tokens: 2, percent: 2 };
    await writer.push("task-fenced", [running(1), token(1)]);
    // Attempt 2 took over: attempt 1's next token is refused, attempt 2's goes in, in the same write.
    await writer.push("task-fenced", [running(2)]);
    const refused: string[] = [];
    const stale = writer.push("task-fenced", [token(2)]);
    writer.pushQuietly("task-fenced", [token(3)], () => refused.push("quiet"));
    const other = writer.push("task-other", [token(1)]);
    const current = writer.push("task-fenced", [ofAttempt2]);
    expect(await Promise.all([stale, other, current])).toEqual([false, true, true]);
    await writer.flush();
    expect(calls.at(-1)!.map((item) => [item.taskId, item.events.length])).toEqual([
      ["task-fenced", 3],
      ["task-other", 1],
    ]);
    expect(refused).toEqual(["quiet"]);
    expect((await log.readAfter("task-fenced", "0")).map((entry) => entry.event)).toEqual([running(1), token(1), running(2), ofAttempt2]);
  });

  it("a failed write rejects its waiters and the next push is written", async () => {
    const failing = new EventWriter({ appendMany: () => Promise.reject(new Error("redis went away")) }, logger);
    await expect(failing.push("task-x", [token(1)])).rejects.toThrow("redis went away");
    const recovered = new EventWriter(log, logger);
    await recovered.push("task-y", [token(1)]);
    expect(await log.readAfter("task-y", "0")).toHaveLength(1);
  });
});
