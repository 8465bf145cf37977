import { runQueueKeys } from "@llmq/queue";
import { type TestStack, startTestStack } from "@llmq/stack";
import { type PrivateRedisCluster, type SseEvent, readSse, startPrivateRedisCluster } from "@llmq/testkit";

// A master of a Redis Cluster of the suite's own is SIGKILLed while a steady load runs; its replica is
// promoted (cluster-node-timeout 1 s). Redis replication is asynchronous, so the last writes the dead master
// acknowledged may be gone (an enqueue, a lease, stream events); Postgres is the truth and the sweeper
// (its timings small here) puts back what the run queue lost. Every accepted task must still end once.
const MODEL = "steady";
const TASKS = 200;
const MODELS = {
  providers: { sim: { type: "simulated", first_token_ms: 5, tokens_per_second: 200 } },
  models: [{ id: MODEL, provider: "sim", concurrency: 8 }],
};
/** How long, after the last submission, every accepted task has to end. */
const SETTLE_BOUND_MS = 60_000;

let cluster: PrivateRedisCluster;
let stack: TestStack;
beforeAll(async () => {
  cluster = await startPrivateRedisCluster({ nodeTimeoutMs: 1_000 });
  stack = await startTestStack({
    models: MODELS,
    env: {
      REDIS_CLUSTER_NODES: cluster.nodes,
      REDIS_URL: "redis://127.0.0.1:1",
      SWEEP_INTERVAL_MS: "500",
      SWEEP_AFTER_MS: "2000",
      LOCK_DURATION_MS: "3000",
      WORKER_DEAD_AFTER_MS: "3000",
    },
  });
}, 60_000);
afterAll(async () => {
  await stack?.close();
  await cluster?.destroy();
});

const data = (event: SseEvent) => JSON.parse(event.data);

it("ends every accepted task exactly once when the master of its run queue is SIGKILLed mid-run", async () => {
  const queueName = stack.api.deps.models.byId.get(MODEL)!.queueName;
  const slot = await cluster.slotOf(runQueueKeys(stack.env.REDIS_PREFIX!, queueName).state);
  const victim = await cluster.masterOf(slot);

  const accepted: string[] = [];
  const refused: number[] = [];
  let killedAt = 0;
  let promotedAfterMs = 0;
  const failover = (async () => {
    while (accepted.length < 60) await new Promise((resolve) => setTimeout(resolve, 20));
    killedAt = Date.now();
    await cluster.kill(victim.port);
    const promoted = await cluster.failedOver(slot, victim.port);
    promotedAfterMs = Date.now() - killedAt;
    return promoted;
  })();
  // A steady load: 5 submissions every 100 ms, each group answered before the next leaves, until TASKS are
  // accepted (so it goes on well past the promotion).
  let acceptedAfterPromotion = 0;
  const deadline = Date.now() + 90_000;
  while (accepted.length < TASKS && Date.now() < deadline) {
    const answers = await Promise.all(
      Array.from({ length: 5 }, (_, i) =>
        stack.request("/v1/ai/text_completion?async=true", {
          method: "POST",
          json: { messages: [{ role: "user", content: `task ${accepted.length + refused.length + i}: tell me about failover` }], configs: { model: MODEL, max_tokens: 30 } },
        }),
      ),
    );
    for (const res of answers) {
      const body = (await res.json()) as { data?: { data?: { task_id?: string } } };
      // Refused while the slot had no master (503, nothing written): not accepted, so not counted.
      if (res.status === 202) {
        accepted.push(body.data!.data!.task_id!);
        if (promotedAfterMs > 0) acceptedAfterPromotion += 1;
      } else refused.push(res.status);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const promoted = await failover;
  expect(promoted.port).not.toBe(victim.port);
  expect(accepted).toHaveLength(TASKS);
  // The API takes work again once the replica serves the slot.
  expect(acceptedAfterPromotion).toBeGreaterThan(50);
  expect(refused.every((status) => status === 503)).toBe(true);
  const lastSubmit = Date.now();

  // Every accepted task ends, COMPLETED, within the bound.
  const rows = await Promise.all(accepted.map((taskId) => stack.finalTask(taskId, { timeoutMs: SETTLE_BOUND_MS, intervalMs: 250 })));
  const settledAfterMs = Date.now() - lastSubmit;
  expect(rows.filter((row) => row.status !== "COMPLETED").map((row) => [row.id, row.status])).toEqual([]);

  // One end each: a replay shows one result and at most one final status (the dead master may have taken
  // the last events of a task with it; the result is then rendered from the row), and what it streamed
  // is the row's text (no two attempts mixed).
  let finalStatusLost = 0;
  for (const row of rows) {
    const events = await readSse(await stack.request(`/v1/ai/tasks/${row.id}/events`));
    const finals = events.filter((event) => event.event === "status" && ["COMPLETED", "FAILED", "CANCELLED", "EXPIRED"].includes(data(event).status));
    const results = events.filter((event) => event.event === "result");
    expect([row.id, finals.length <= 1, results.length]).toEqual([row.id, true, 1]);
    if (finals.length === 0) finalStatusLost += 1;
    expect(data(results[0]!).data.data).toMatchObject({ status: "COMPLETED", response: row.response });
  }

  // Nothing left behind in the run queue: no lease held, nothing waiting.
  const counts = await stack.api.deps.queues.runQueue(queueName).counts();
  expect({ waiting: counts.waiting, leased: counts.leased }).toEqual({ waiting: 0, leased: 0 });

  const rerun = rows.filter((row) => row.attempts > 1).length;
  console.info(
    `failover: ${accepted.length} accepted (${acceptedAfterPromotion} after the promotion), ${refused.length} refused (503) while the slot had no master; ` +
      `master ${victim.port} killed after 60 accepted, replica ${promoted.port} serving after ${promotedAfterMs} ms; ` +
      `every task COMPLETED ${settledAfterMs} ms after the last submission; ${rerun} ran a second attempt; ${finalStatusLost} replays lacked the final status event`,
  );
}, 180_000);
