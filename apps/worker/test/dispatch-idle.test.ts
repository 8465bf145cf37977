import { createLogger } from "@llmq/config";
import { RunQueue, type RunQueueEntry, closeRedis, createRedis } from "@llmq/queue";
import { eventually, testRedisUrl, uniquePrefix } from "@llmq/testkit";
import { DispatchLoop } from "../src/dispatch-loop";

// Issue 13, latency of a lone task: a dispatch loop that leased fewer tasks than it has free slots took all
// there was, so it waits on the wake marker at once instead of calling DISPATCH again (an empty call that
// went out while the task's attempt started). Real Redis, a real run queue; the attempt is a stand-in.
const redis = createRedis(testRedisUrl());
beforeAll(async () => {
  await eventually(async () => (redis.status === "ready" ? true : undefined), { what: "the command connection" });
});
afterAll(async () => {
  await closeRedis(redis);
});

/** The loop's own blocking connection (its close disconnects it). */
async function blockingConnection() {
  const blocking = createRedis(testRedisUrl(), { blocking: true });
  await eventually(async () => (blocking.status === "ready" ? true : undefined), { what: "the blocking connection" });
  return blocking;
}

let serial = 0;
const entry = (): RunQueueEntry => ({ id: `lone-${++serial}`, tenant: "t", weight: 1, tier: "default", estimatedTokens: 10, queueDeadline: null, requestCopy: null });

describe("a dispatch loop with free slots", () => {
  it("leases a lone task with one DISPATCH, then waits for the next (before: a second, empty DISPATCH per task)", async () => {
    const queue = new RunQueue(redis, { prefix: uniquePrefix(), queueName: "llm_lone_queue" });
    let dispatches = 0;
    const dispatch = queue.dispatch.bind(queue);
    queue.dispatch = (...args) => (dispatches++, dispatch(...args));
    const ran: string[] = [];
    let finish: (() => void) | null = null;
    const loop = new DispatchLoop({
      queue,
      blocking: await blockingConnection(),
      workerId: "w-lone",
      concurrency: 4,
      leaseMs: 30_000,
      run: async (task) => {
        ran.push(task.taskId);
        // Held until the test lets it end: the calls made while it runs are the ones counted.
        await new Promise<void>((resolve) => (finish = resolve));
        return { kind: "done", tokens: 10, failed: false };
      },
      logger: createLogger({ name: "test", level: "silent" }),
    });
    loop.start();
    try {
      await eventually(async () => (dispatches >= 1 ? true : undefined), { what: "the loop's first (empty) dispatch" });
      const perTask: number[] = [];
      for (let i = 0; i < 5; i++) {
        const task = entry();
        const before = dispatches;
        await queue.enqueueMany([task]);
        await eventually(async () => (ran.includes(task.id) ? true : undefined), { what: `task ${task.id} to run` });
        // Time for any further call the loop would make while the task runs.
        await new Promise((resolve) => setTimeout(resolve, 100));
        perTask.push(dispatches - before);
        finish!();
        await eventually(async () => (loop.runningIds().length === 0 ? true : undefined), { what: "the task to end" });
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(perTask).toEqual([1, 1, 1, 1, 1]);
      expect(ran).toHaveLength(5);
    } finally {
      await loop.close(1_000);
    }
  });

  it("still leases a task enqueued while it runs another, and a burst up to its free slots at once", async () => {
    const queue = new RunQueue(redis, { prefix: uniquePrefix(), queueName: "llm_burst_queue" });
    const ran: string[] = [];
    const finishers: (() => void)[] = [];
    const loop = new DispatchLoop({
      queue,
      blocking: await blockingConnection(),
      workerId: "w-burst",
      concurrency: 4,
      leaseMs: 30_000,
      run: async (task) => {
        ran.push(task.taskId);
        await new Promise<void>((resolve) => finishers.push(resolve));
        return { kind: "done", tokens: 10, failed: false };
      },
      logger: createLogger({ name: "test", level: "silent" }),
    });
    loop.start();
    try {
      const first = entry();
      await queue.enqueueMany([first]);
      await eventually(async () => (ran.length === 1 ? true : undefined), { what: "the first task to run" });
      // Three more while it runs: the loop idles on the marker, which the enqueue sets.
      await queue.enqueueMany([entry(), entry(), entry()]);
      await eventually(async () => (ran.length === 4 ? true : undefined), { what: "the three to run beside it" });
      // A fifth waits for a slot, and runs when one frees.
      const fifth = entry();
      await queue.enqueueMany([fifth]);
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(ran).toHaveLength(4);
      finishers.shift()!();
      await eventually(async () => (ran.includes(fifth.id) ? true : undefined), { what: "the fifth to run once a slot freed" });
      for (const finish of finishers.splice(0)) finish();
    } finally {
      for (const finish of finishers.splice(0)) finish();
      await loop.close(1_000);
    }
  });
});
