import { newBatchId } from "@llmq/core";
import { ADMIN_USER_ID, batchTaskId } from "@llmq/db";
import { eventually, json } from "@llmq/testkit";
import { type TestStack, startTestStack } from "@llmq/stack";

let stack: TestStack;
beforeAll(async () => {
  // Sweeper rounds only when the test asks for one.
  stack = await startTestStack({ env: { SWEEP_AFTER_MS: "100", SWEEP_INTERVAL_MS: "3600000" } });
});
afterAll(async () => {
  await stack.close();
});

describe("the sweeper and batch items", () => {
  it("re-enqueues a batch item its run queue lost, at the batch tier (flex), and it completes", async () => {
    const res = await stack.request("/v1/ai/batches", { method: "POST", json: { requests: [{ messages: [{ role: "user", content: "lost" }], configs: { max_tokens: 4 } }] } });
    expect(res.status).toBe(200);
    const { batch_id: batchId, task_ids: [taskId] } = (await json(res)).data.data;
    await eventually(async () => ((await json(await stack.request(`/v1/ai/batches/${batchId}`))).data.data.status === "completed" ? true : undefined));

    // As if Redis had lost the entry before it ran: the task back to PENDING, its entry gone (a settled
    // task's entry is gone already), and its event stream with it (a task that never ran has no final
    // event; one left in place would refuse the rerun's events, as it refuses a stale attempt's). The
    // queue is paused so the re-enqueued entry can be read before it runs.
    const queueName = "llm_gemma_7b_queue";
    // Settled just after the task completed (the batch may be seen completed a moment before).
    await eventually(async () => ((await stack.api.deps.queues.jobState(queueName, taskId)) === null ? true : undefined), { what: "the item's entry settled" });
    await stack.api.deps.queues.pause(queueName);
    try {
      await stack.api.deps.db.$executeRaw`UPDATE tasks SET status = 'PENDING', completed_at = NULL, updated_at = now() - interval '1 minute' WHERE task_id = ${taskId}`;
      await stack.api.deps.db.$executeRaw`UPDATE batches SET status = 'in_progress', completed_at = NULL, finalizing_at = NULL WHERE id = ${batchId}`;
      await stack.api.deps.log.discard(taskId);

      await stack.worker!.sweep();
      expect(await stack.api.deps.queues.jobState(queueName, taskId)).toMatchObject({ state: "waiting", tier: "flex", tenant: expect.any(String) });
    } finally {
      await stack.api.deps.queues.resume(queueName);
    }
    await eventually(async () => ((await json(await stack.request(`/v1/ai/tasks/${taskId}`))).data.data.status === "COMPLETED" ? true : undefined));
    await stack.worker!.sweep();
    expect((await json(await stack.request(`/v1/ai/batches/${batchId}`))).data.data.status).toBe("completed");
  });

  it("removes a native batch the API abandoned while inserting its rows (never acknowledged), and leaves a fresh one", async () => {
    const { batches, tasks } = stack.api.deps;
    const make = async (id: string) => {
      await batches.create({ id, ownerId: ADMIN_USER_ID, kind: "native", endpoint: "/v1/ai/text_completion", inputFileId: null, completionWindow: "24h", metadata: null, expiresAt: new Date(Date.now() + 86_400_000), status: "validating", totalCount: 3 });
      await tasks.createBatchTasks(id, [{ id: batchTaskId(id, 0), ownerId: ADMIN_USER_ID, model: "gemma-7b", queueName: "llm_gemma_7b_queue", messages: [{ role: "user", content: "half" }], configs: { model: "gemma-7b", max_tokens: 4 }, customId: "0", batchIndex: 0 }]);
    };
    const [abandoned, inserting] = [newBatchId(), newBatchId()];
    await make(abandoned);
    await make(inserting);
    // The API died 11 minutes ago, one row in; the other batch is still going in (older than SWEEP_AFTER_MS, but only just).
    await stack.api.deps.db.$executeRaw`UPDATE batches SET created_at = now() - interval '11 minutes' WHERE id = ${abandoned}`;
    await stack.worker!.sweep();
    expect(await batches.findById(abandoned)).toBeNull();
    expect(await tasks.findById(batchTaskId(abandoned, 0))).toBeNull();
    expect(await batches.findById(inserting)).toMatchObject({ status: "validating" });
    expect(await tasks.findById(batchTaskId(inserting, 0))).toMatchObject({ status: "PENDING" });
  });
});
