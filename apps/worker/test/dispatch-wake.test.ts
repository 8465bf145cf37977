import { createLogger } from "@llmq/config";
import { RunQueue, type RunQueueEntry, closeRedis, createRedis } from "@llmq/queue";
import { eventually, testRedisUrl, uniquePrefix } from "@llmq/testkit";
import { DispatchLoop } from "../src/dispatch-loop";

// Issue 13, the latency tail: a dispatch loop with free slots blocks on the wake marker (BZPOPMIN) while a
// task runs. When the task ends, the loop is woken locally and calls DISPATCH while that BZPOPMIN is still
// blocked in Redis. A task enqueued right after that DISPATCH sets the marker, the old BZPOPMIN pops it,
// and if its answer is handled before the loop waits again, the loop used to block anew on a marker that
// was already taken: the new task sat until the idle wait's timer (5 s by default; in a stream of requests,
// until the next enqueue). Bench figure 4 saw it as one stream of 5,029 ms. Real Redis, a real run queue;
// the interleaving is made exact by holding the loop's DISPATCH answer until the old BZPOPMIN took the marker.
const redis = createRedis(testRedisUrl());
beforeAll(async () => {
  await eventually(async () => (redis.status === "ready" ? true : undefined), { what: "the command connection" });
});
afterAll(async () => {
  await closeRedis(redis);
});

let serial = 0;
const entry = (): RunQueueEntry => ({ id: `wake-${++serial}`, tenant: "t", weight: 1, tier: "default", estimatedTokens: 10, queueDeadline: null, requestCopy: null });
const turns = async (n: number) => {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
};

describe("a dispatch loop's wake marker", () => {
  it("is not lost when the BZPOPMIN left blocked while a task ran takes it during the next DISPATCH", async () => {
    const queue = new RunQueue(redis, { prefix: uniquePrefix(), queueName: "llm_wake_queue" });
    const blocking = createRedis(testRedisUrl(), { blocking: true });
    await eventually(async () => (blocking.status === "ready" ? true : undefined), { what: "the blocking connection" });
    const pops: (string | null)[] = [];
    const bzpopmin = blocking.bzpopmin.bind(blocking) as (...args: unknown[]) => Promise<[string, string, string] | null>;
    (blocking as unknown as { bzpopmin: unknown }).bzpopmin = (...args: unknown[]) =>
      bzpopmin(...args).then((popped) => (pops.push(popped ? popped[1] : null), popped));

    // The DISPATCH to hold: once armed, after Redis ran it, a task is enqueued (its marker is set) and the
    // answer goes back to the loop only when the marker is gone (the blocked BZPOPMIN took it) and that
    // BZPOPMIN's answer has been handled here.
    let armed = false;
    let late: RunQueueEntry | null = null;
    const dispatch = queue.dispatch.bind(queue);
    queue.dispatch = async (...args) => {
      const result = await dispatch(...args);
      if (!armed) return result;
      armed = false;
      const popsBefore = pops.length;
      late = entry();
      await queue.enqueueMany([late]);
      await eventually(async () => (pops.length > popsBefore ? true : undefined), { what: "the blocked BZPOPMIN to take the marker" });
      await turns(5);
      return result;
    };

    const ran: string[] = [];
    const finishers = new Map<string, () => void>();
    const loop = new DispatchLoop({
      queue,
      blocking,
      workerId: "w-wake",
      concurrency: 2,
      leaseMs: 30_000,
      // Longer than the test waits: a lost wake shows as a task that never runs, not as a slow one.
      maxIdleBlockMs: 120_000,
      run: async (task) => {
        ran.push(task.taskId);
        await new Promise<void>((resolve) => finishers.set(task.taskId, resolve));
        return { kind: "done", tokens: 10, failed: false };
      },
      logger: createLogger({ name: "test", level: "silent" }),
    });
    loop.start();
    try {
      const first = entry();
      await queue.enqueueMany([first]);
      await eventually(async () => (ran.includes(first.id) ? true : undefined), { what: "the first task to run" });
      // It runs; the loop (one slot still free) blocks on the marker. End it, and hold the DISPATCH that follows.
      await turns(5);
      armed = true;
      finishers.get(first.id)!();
      await eventually(async () => (late ? true : undefined), { what: "the held DISPATCH" });
      await eventually(async () => (ran.includes(late!.id) ? true : undefined), { what: "the task enqueued during the DISPATCH to run", timeoutMs: 10_000 });
      expect(ran).toEqual([first.id, late!.id]);
    } finally {
      for (const finish of finishers.values()) finish();
      await loop.close(1_000);
    }
  });
});
