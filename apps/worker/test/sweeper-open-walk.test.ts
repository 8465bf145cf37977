// The sweeper's check of open tasks against their run queues (issue 17): each round reads one page of the
// open tasks (500), walking them in task_id order and starting again at the end, instead of reading every
// open task and taking the 500 least recently touched. Behind a backlog larger than a page, a task its
// run queue lost is still found within a few rounds (before, the same oldest 500 were read every round).
import { type TestStack, startTestStack } from "@llmq/stack";
import { json } from "@llmq/testkit";

const FAST = "gemma-7b";
// Served by no worker: its tasks stay queued, a backlog older than anything else.
const PARKED = "parked-model";
const FAST_QUEUE = "llm_gemma_7b_queue";

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack({
    models: {
      providers: { fast: { type: "simulated", first_token_ms: 5, tokens_per_second: 2000 } },
      models: [
        { id: FAST, provider: "fast", concurrency: 4 },
        { id: PARKED, provider: "fast", concurrency: 1 },
      ],
    },
    // Sweeper rounds only when the test asks for one.
    env: { SWEEP_AFTER_MS: "100", SWEEP_INTERVAL_MS: "3600000", WORKER_MODELS: FAST },
  });
});
afterAll(async () => {
  await stack.close();
});

describe("the sweeper's walk over the open tasks", () => {
  it("finds a task its run queue lost behind a backlog of 600 open tasks untouched for an hour, within two rounds", async () => {
    const db = stack.api.deps.db;
    // The backlog: 600 PENDING tasks of a model nobody serves, last touched an hour ago.
    const parked = await stack.submitAsync({ messages: [{ role: "user", content: "parked" }], configs: { model: PARKED, max_tokens: 4 } });
    await db.$executeRaw`INSERT INTO tasks
      SELECT (jsonb_populate_record(null::tasks, to_jsonb(t) || jsonb_build_object('task_id', md5(g::text || t.task_id)))).*
        FROM tasks t, generate_series(1, 599) g WHERE t.task_id = ${parked}`;
    await db.$executeRaw`UPDATE tasks SET updated_at = now() - interval '1 hour' WHERE model = ${PARKED}`;

    // A served task whose entry Redis lost: back to PENDING, no entry, no event stream; touched a minute
    // ago, so 600 open tasks are older than it. The queue is paused so the new entry can be read.
    const lost = await stack.submitAsync({ messages: [{ role: "user", content: "lost" }], configs: { model: FAST, max_tokens: 4 } });
    await stack.finalTask(lost);
    const { queues, log } = stack.api.deps;
    await queues.pause(FAST_QUEUE);
    try {
      for (let n = 0; n < 50 && (await queues.jobState(FAST_QUEUE, lost)) !== null; n++) await new Promise((resolve) => setTimeout(resolve, 100));
      expect(await queues.jobState(FAST_QUEUE, lost)).toBeNull();
      await db.$executeRaw`UPDATE tasks SET status = 'PENDING', completed_at = NULL, updated_at = now() - interval '1 minute' WHERE task_id = ${lost}`;
      await log.discard(lost);
      const [open] = await db.$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM tasks WHERE completed_at IS NULL`;
      expect(Number(open!.n)).toBe(601);

      await stack.worker!.sweep();
      await stack.worker!.sweep();
      expect(await queues.jobState(FAST_QUEUE, lost)).toMatchObject({ state: "waiting" });
    } finally {
      await queues.resume(FAST_QUEUE);
    }
    const res = await stack.request(`/v1/ai/tasks/${lost}`);
    expect((await json(res)).data.data.task_id).toBe(lost);
    await stack.finalTask(lost);
  });
});
