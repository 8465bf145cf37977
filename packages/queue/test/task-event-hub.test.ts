// The hub on a Redis of this suite's own: INFO commandstats then counts exactly the reads the hub makes,
// and killing its pub/sub connections touches no other suite.
import { type PrivateRedis, eventually, startPrivateRedis, uniquePrefix } from "@llmq/testkit";
import { type FinalWait, type KeySpace, type RedisConnection, type TaskEvent, type TaskEventEntry, TaskEventHub, TaskEventLog, closeRedis, createRedis, keySpace } from "../src";

let server: PrivateRedis;
let commands: RedisConnection;
let subscriber: RedisConnection;
let admin: RedisConnection;
let keys: KeySpace;
let log: TaskEventLog;
let hub: TaskEventHub;
let taskNumber = 0;

beforeAll(async () => {
  server = await startPrivateRedis();
  commands = createRedis(server.url);
  subscriber = createRedis(server.url, { blocking: true, name: "hub-subscriber" });
  admin = createRedis(server.url, { blocking: true });
  keys = keySpace(uniquePrefix());
  log = new TaskEventLog(commands, keys);
  // The safety check runs often here, so that the test of a lost last message is short.
  hub = new TaskEventHub(subscriber, log, keys, { safetyCheckMs: 300, waiterRecheckMs: 300 });
  await eventually(async () => (commands.status === "ready" ? true : undefined), { what: "the command connection" });
});
afterAll(async () => {
  hub.close();
  await Promise.all([commands, subscriber, admin].map(closeRedis));
  await server.destroy();
});

const newTask = () => `task${++taskNumber}`;
/** `append`, answering the new entries' ids (appendMany answers them); these tests append nothing the stream refuses. */
const appendIds = async (taskId: string, events: TaskEvent[]) =>
  (await log.appendMany([{ taskId, events }]))[0]!.map((id) => {
    if (id === null) throw new Error(`task ${taskId}: the stream refused an event`);
    return id;
  });
const token = (n: number): TaskEvent => ({ type: "token", attempt: 1, delta: `t${n} `, tokens: n, percent: n });
const running: TaskEvent = { type: "status", status: "RUNNING", attempt: 1 };
const final: TaskEvent = { type: "final", status: "COMPLETED" };

/** Calls of one command on the server so far. */
async function calls(command: string): Promise<number> {
  const match = new RegExp(`cmdstat_${command}:calls=(\\d+)`).exec(await admin.info("commandstats"));
  return Number(match?.[1] ?? 0);
}

/** A listener recording what it gets; `until(n)` resolves once it holds `n` entries. */
function follow(taskId: string, afterId = "0", on: TaskEventHub = hub) {
  const entries: TaskEventEntry[] = [];
  const errors: unknown[] = [];
  let stop: () => void = () => undefined;
  stop = on.subscribe(
    taskId,
    afterId,
    (delivered) => entries.push(...delivered),
    (error) => errors.push(error),
  );
  return {
    entries,
    errors,
    stop: () => stop(),
    until: (n: number) => eventually(async () => (entries.length >= n ? entries : undefined), { what: `${n} entries of ${taskId} (have ${entries.length})` }),
  };
}

type Listener = ReturnType<typeof follow>;

/** Waits until `listeners` of a task with an empty stream are live: each gets the PENDING event written now. */
async function listening(taskId: string, ...listeners: Listener[]): Promise<void> {
  await log.append(taskId, [{ type: "status", status: "PENDING", attempt: 0 }]);
  for (const listener of listeners) await listener.until(1);
}

/** Appends written behind the hub's back: in the stream, but no message announces them (a lost PUBLISH). */
async function appendUnannounced(taskId: string, events: TaskEvent[]): Promise<void> {
  for (const event of events) await admin.xadd(keys.taskEvents(taskId), "*", "e", JSON.stringify(event));
}

const idsOf = (entries: TaskEventEntry[]) => entries.map((entry) => entry.id);

describe("TaskEventHub: listeners", () => {
  it("replays from the start to a late listener and from after an id to a resuming one, then follows both", async () => {
    const taskId = newTask();
    const first = await appendIds(taskId, [running, token(1), token(2), token(3)]);
    const late = follow(taskId);
    const resuming = follow(taskId, first[1]!);
    await late.until(4);
    await resuming.until(2);
    const more = await appendIds(taskId, [token(4), final]);
    await late.until(6);
    await resuming.until(4);
    expect(idsOf(late.entries)).toEqual([...first, ...more]);
    expect(idsOf(resuming.entries)).toEqual([...first.slice(2), ...more]);
    expect(late.entries.map((entry) => entry.event)).toEqual([running, token(1), token(2), token(3), token(4), final]);
    late.stop();
    resuming.stop();
  });

  it("delivers its first read even when the stream does not exist yet (once, empty), then what is appended", async () => {
    const taskId = newTask();
    const batches: TaskEventEntry[][] = [];
    const stop = hub.subscribe(taskId, "0", (entries) => batches.push(entries), () => undefined);
    // A follower learns the stream held nothing (a waiting batch item has none): the relay shows PENDING then.
    await eventually(async () => (batches.length === 1 ? true : undefined), { what: "the first read delivered" });
    expect(batches[0]).toEqual([]);
    const ids = await appendIds(taskId, [running, token(1)]);
    await eventually(async () => (batches.flat().length === 2 ? true : undefined), { what: "the appended entries" });
    expect(batches.flat().map((entry) => entry.id)).toEqual(ids);
    // No second empty delivery: only the first read announces itself when it finds nothing.
    expect(batches.filter((entries) => entries.length === 0)).toHaveLength(1);
    stop();
  });

  it("is woken with the data: appends after the subscription cost no read", async () => {
    const taskId = newTask();
    const listeners = [follow(taskId), follow(taskId), follow(taskId)];
    await listening(taskId, ...listeners);
    const readsBefore = await calls("xrange");
    const ids: string[] = [];
    for (let n = 1; n <= 40; n++) ids.push(...(await appendIds(taskId, [token(n)])));
    for (const listener of listeners) await listener.until(41);
    expect(await calls("xrange")).toBe(readsBefore);
    for (const listener of listeners) {
      expect(idsOf(listener.entries).slice(1)).toEqual(ids);
      listener.stop();
    }
    expect(hub.listenerCount()).toBe(0);
  });

  it("shares one channel subscription among a task's listeners and lets go of it with the last", async () => {
    const taskId = newTask();
    const channel = keys.taskNotify(taskId);
    const numsub = async () => Number(((await admin.pubsub("NUMSUB", channel)) as [string, number])[1]);
    const a = follow(taskId);
    const b = follow(taskId);
    await listening(taskId, a, b);
    expect(await numsub()).toBe(1);
    expect(hub.listenerCount()).toBe(2);
    a.stop();
    expect(await numsub()).toBe(1);
    b.stop();
    await eventually(async () => ((await numsub()) === 0 ? true : undefined), { what: "the channel to be unsubscribed" });
    expect(hub.listenerCount()).toBe(0);
    // A listener that left gets nothing more.
    await log.append(taskId, [token(1)]);
    const c = follow(taskId);
    await c.until(2);
    expect(a.entries).toHaveLength(1);
    expect(b.entries).toHaveLength(1);
    c.stop();
  });

  it("sees a gap when a message was lost, and repairs it with one read, in order", async () => {
    const taskId = newTask();
    const listener = follow(taskId);
    await listening(taskId, listener);
    await appendUnannounced(taskId, [token(1), token(2)]);
    const readsBefore = await calls("xrange");
    await log.append(taskId, [token(3)]);
    await listener.until(4);
    expect(listener.entries.map((entry) => entry.event)).toEqual([{ type: "status", status: "PENDING", attempt: 0 }, token(1), token(2), token(3)]);
    expect(await calls("xrange")).toBe(readsBefore + 1);
    // And goes on from messages.
    await log.append(taskId, [token(4)]);
    await listener.until(5);
    expect(await calls("xrange")).toBe(readsBefore + 1);
    expect(idsOf(listener.entries)).toEqual(idsOf(await log.readAfter(taskId, "0")));
    listener.stop();
  });

  it("finds a lost last message with its slow safety check", async () => {
    const taskId = newTask();
    const listener = follow(taskId);
    await listening(taskId, listener);
    await appendUnannounced(taskId, [token(1), final]);
    await listener.until(3);
    expect(listener.entries.map((entry) => entry.event).slice(1)).toEqual([token(1), final]);
    listener.stop();
  });

  it("reads what a message announces by id only (large events)", async () => {
    const taskId = newTask();
    const listener = follow(taskId);
    await listening(taskId, listener);
    const big: TaskEvent = { type: "token", attempt: 1, delta: "x".repeat(100_000), tokens: 1, percent: 1 };
    const readsBefore = await calls("xrange");
    await log.append(taskId, [big, token(2)]);
    await listener.until(3);
    expect(listener.entries.slice(1).map((entry) => entry.event)).toEqual([big, token(2)]);
    expect(await calls("xrange")).toBe(readsBefore + 1);
    listener.stop();
  });

  it("delivers every entry once and in order under concurrent appends and listeners joining midway", async () => {
    const taskId = newTask();
    const early = follow(taskId);
    await listening(taskId, early);
    // Four writers of one attempt, told apart by their choice (an older attempt's events would be refused).
    const writers = [1, 2, 3, 4].map((writer) => async () => {
      for (let n = 1; n <= 60; n++) await log.append(taskId, [{ type: "token", attempt: 1, choice: writer, delta: `${writer}:${n}`, tokens: n, percent: 0 }]);
    });
    const joining = (async () => {
      await new Promise((resolve) => setTimeout(resolve, 5));
      return [follow(taskId), follow(taskId, idsOf(early.entries)[0]!)];
    })();
    await Promise.all(writers.map((write) => write()));
    const [midway, resumed] = await joining;
    const all = await log.readAfter(taskId, "0");
    expect(all).toHaveLength(241);
    for (const listener of [early, midway!, resumed!]) await listener.until(listener === resumed ? 240 : 241);
    expect(idsOf(early.entries)).toEqual(idsOf(all));
    expect(idsOf(midway!.entries)).toEqual(idsOf(all));
    expect(idsOf(resumed!.entries)).toEqual(idsOf(all.slice(1)));
    // Each writer's events in the order it wrote them.
    for (const writer of [1, 2, 3, 4]) {
      const mine = early.entries.flatMap(({ event }) => (event.type === "token" && event.choice === writer ? [event.tokens] : []));
      expect(mine).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
    }
    for (const listener of [early, midway!, resumed!]) listener.stop();
  });

  it("subscribes fifty streams opened together with one SUBSCRIBE, and lets them go with one UNSUBSCRIBE", async () => {
    const tasks = Array.from({ length: 50 }, newTask);
    const [subscribes, unsubscribes] = [await calls("subscribe"), await calls("unsubscribe")];
    const listeners = tasks.map((taskId) => follow(taskId));
    for (const taskId of tasks) await log.append(taskId, [running]);
    for (const listener of listeners) await listener.until(1);
    expect(await calls("subscribe")).toBe(subscribes + 1);
    const channels = Number(((await admin.call("PUBSUB", "NUMSUB", ...tasks.map((taskId) => keys.taskNotify(taskId)))) as (string | number)[]).filter((_, i) => i % 2 === 1).reduce((sum, n) => Number(sum) + Number(n), 0));
    expect(channels).toBe(50);
    for (const listener of listeners) listener.stop();
    await eventually(async () => ((await calls("unsubscribe")) > unsubscribes ? true : undefined), { what: "the UNSUBSCRIBE" });
    expect(await calls("unsubscribe")).toBe(unsubscribes + 1);
    const left = (await admin.call("PUBSUB", "NUMSUB", ...tasks.map((taskId) => keys.taskNotify(taskId)))) as (string | number)[];
    expect(left.filter((_, i) => i % 2 === 1).map(Number)).toEqual(tasks.map(() => 0));
  });
});

describe("TaskEventHub.waitForFinal", () => {
  it("waits for the final event only: no token reaches the waiter and nothing is read", async () => {
    const taskId = newTask();
    let checks = 0;
    const isFinal = async () => {
      checks++;
      return false;
    };
    let settled: FinalWait | null = null;
    const waiting = hub.waitForFinal(taskId, { timeoutMs: 30_000, isFinal }).then((final) => (settled = final));
    await eventually(async () => (checks > 0 ? true : undefined), { what: "the waiter's first check" });
    // The waiter listens on the task's final channel, not on its token notifications.
    expect(((await admin.pubsub("NUMSUB", keys.taskNotify(taskId))) as [string, number])[1]).toBe(0);
    const readsBefore = await calls("xrange");
    const watcher = follow(taskId);
    for (let n = 1; n <= 30; n++) await log.append(taskId, [token(n)]);
    await watcher.until(30);
    expect(settled).toBeNull();
    await log.append(taskId, [{ type: "status", status: "COMPLETED", attempt: 1 }, final]);
    expect(await waiting).toEqual({ status: "COMPLETED", task: null });
    // The watcher's one read when it subscribed; none by the waiter.
    expect(await calls("xrange")).toBe(readsBefore + 1);
    expect(hub.waiterCount()).toBe(0);
    watcher.stop();
  });

  it("sees a final that came before it subscribed by checking once subscribed", async () => {
    const taskId = newTask();
    await log.append(taskId, [running, final]);
    // Known from the row, not a message: nothing more than that it ended.
    expect(await hub.waitForFinal(taskId, { timeoutMs: 30_000, isFinal: async () => true })).toEqual({ status: null, task: null });
    expect(hub.waiterCount()).toBe(0);
  });

  it("gives up at its timeout or when its signal aborts, and lets go of the channel", async () => {
    const taskId = newTask();
    const numsub = async () => Number(((await admin.pubsub("NUMSUB", keys.taskFinal(taskId))) as [string, number])[1]);
    expect(await hub.waitForFinal(taskId, { timeoutMs: 50, isFinal: async () => false })).toBe(false);
    const gone = new AbortController();
    const waiting = hub.waitForFinal(taskId, { timeoutMs: 30_000, signal: gone.signal, isFinal: async () => false });
    await eventually(async () => ((await numsub()) === 1 ? true : undefined), { what: "the waiter to subscribe" });
    gone.abort();
    expect(await waiting).toBe(false);
    await eventually(async () => ((await numsub()) === 0 ? true : undefined), { what: "the channel to be let go" });
    expect(hub.waiterCount()).toBe(0);
    const aborted = new AbortController();
    aborted.abort();
    expect(await hub.waitForFinal(taskId, { timeoutMs: 30_000, signal: aborted.signal, isFinal: async () => true })).toBe(false);
  });

  it("is handed the finished row its writer sent with the final event; the row is not stored in the stream", async () => {
    const taskId = newTask();
    const row = { id: taskId, status: "COMPLETED", response: "hello", completedAt: "2026-12-02T04:00:00.000Z" };
    const waiting = hub.waitForFinal(taskId, { timeoutMs: 30_000, isFinal: async () => false });
    await eventually(async () => (Number(((await admin.pubsub("NUMSUB", keys.taskFinal(taskId))) as [string, number])[1]) === 1 ? true : undefined), { what: "the waiter to subscribe" });
    await log.appendMany([{ taskId, events: [{ type: "status", status: "COMPLETED", attempt: 1 }, final], finishedTask: JSON.stringify(row) }]);
    expect(await waiting).toEqual({ status: "COMPLETED", task: row });
    const stored = await log.readAfter(taskId, "0");
    expect(stored.map((entry) => entry.event)).toEqual([{ type: "status", status: "COMPLETED", attempt: 1 }, final]);
  });

  it("is told only that the task ended when the finished row is past the notice size limit (the waiter reads the row)", async () => {
    const small = new TaskEventLog(commands, keys, { maxNoticeBytes: 100 });
    const taskId = newTask();
    const waiting = hub.waitForFinal(taskId, { timeoutMs: 30_000, isFinal: async () => false });
    await eventually(async () => (Number(((await admin.pubsub("NUMSUB", keys.taskFinal(taskId))) as [string, number])[1]) === 1 ? true : undefined), { what: "the waiter to subscribe" });
    await small.appendMany([{ taskId, events: [final], finishedTask: JSON.stringify({ id: taskId, status: "COMPLETED", response: "x".repeat(200) }) }]);
    expect(await waiting).toEqual({ status: "COMPLETED", task: null });
  });

  it("fails when its first check fails (the store is down), so the caller can say so", async () => {
    const failure = new Error("store down");
    await expect(hub.waitForFinal(newTask(), { timeoutMs: 30_000, isFinal: async () => Promise.reject(failure) })).rejects.toBe(failure);
    expect(hub.waiterCount()).toBe(0);
  });
});

describe("TaskEventHub after its connection is cut", () => {
  // A hub whose safety checks would come only after a minute: what it does here it does on reconnecting.
  let patientSubscriber: RedisConnection;
  let patient: TaskEventHub;
  beforeAll(() => {
    patientSubscriber = createRedis(server.url, { blocking: true, name: "patient-subscriber" });
    patient = new TaskEventHub(patientSubscriber, log, keys, { safetyCheckMs: 60_000, waiterRecheckMs: 60_000 });
  });
  afterAll(async () => {
    patient.close();
    await closeRedis(patientSubscriber);
  });

  it("resubscribes after its connection is cut and misses nothing written meanwhile", async () => {
    const taskId = newTask();
    const listener = follow(taskId, "0", patient);
    await listening(taskId, listener);
    await admin.call("CLIENT", "KILL", "TYPE", "pubsub");
    // Written while the subscriber reconnects: their messages reach nobody.
    const ids = await appendIds(taskId, [token(1), token(2)]);
    await listener.until(3);
    expect(idsOf(listener.entries).slice(1)).toEqual(ids);
    // And it is subscribed again: new entries come from messages.
    const readsBefore = await calls("xrange");
    await log.append(taskId, [token(3)]);
    await listener.until(4);
    expect(await calls("xrange")).toBe(readsBefore);
    expect(listener.errors).toEqual([]);
    listener.stop();
  });

  it("checks again after its connection was cut, so a final announced meanwhile is not missed", async () => {
    const taskId = newTask();
    let ended = false;
    let checks = 0;
    const waiting = patient.waitForFinal(taskId, {
      timeoutMs: 60_000,
      isFinal: async () => {
        checks++;
        return ended;
      },
    });
    await eventually(async () => (checks > 0 ? true : undefined), { what: "the waiter's first check" });
    await admin.call("CLIENT", "KILL", "TYPE", "pubsub");
    ended = true;
    await log.append(taskId, [final]);
    expect(await waiting).toBeTruthy();
  });
});
