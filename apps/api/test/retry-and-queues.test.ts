import { eventually, json } from "@llmq/testkit";
import { type TestStack, startTestStack } from "@llmq/stack";
import { signedInAccount } from "./account-support";

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(async () => {
  await stack.close();
});

const FAST = "gemma-7b";
const OTHER = "llama-3.1-8b-instruct";
const request = (content: string, model = FAST) => ({ messages: [{ role: "user", content }], configs: { model, max_tokens: 16, temperature: 0.3, top_k: 7 } });

function expectFlexError(body: any, code: string) {
  expect(body).toMatchObject({ data: null, status: "error", errors: [{ code }] });
}

async function taskOf(taskId: string, bearer: string) {
  return (await json(await stack.request(`/v1/ai/tasks/${taskId}`, { key: bearer }))).data.data;
}

async function completed(taskId: string, bearer: string) {
  return eventually(async () => {
    const task = await taskOf(taskId, bearer);
    return task.status === "COMPLETED" ? task : undefined;
  }, { what: `task ${taskId} to complete` });
}

async function queuesNow(bearer = stack.adminKey) {
  const res = await stack.request("/v1/admin/queues", { key: bearer });
  expect(res.status).toBe(200);
  return (await json(res)).data.data.queues as any[];
}

/** percentile_cont: linear interpolation between the two nearest ranks. */
function percentile(values: number[], fraction: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const rank = fraction * (sorted.length - 1);
  const low = Math.floor(rank);
  const high = Math.ceil(rank);
  return sorted[low]! + (sorted[high]! - sorted[low]!) * (rank - low);
}

describe("POST /v1/ai/tasks/{id}/retry", () => {
  it("creates a new task with the same model, messages and configs for the same owner; the old one is untouched", async () => {
    const ann = await signedInAccount(stack);
    const original = await stack.submitAsync(request("retry me"), ann.token);
    await completed(original, ann.token);
    const before = await stack.api.deps.tasks.findById(original);

    const res = await stack.request(`/v1/ai/tasks/${original}/retry`, { method: "POST", key: ann.token });
    expect(res.status).toBe(201);
    const body = await json(res);
    const retried = body.data.data;
    expect(retried.task_id).not.toBe(original);
    expect(res.headers.get("location")).toBe(`/v1/ai/tasks/${retried.task_id}`);
    expect(retried.status).toBe("PENDING");
    expect(body.data.configs).toMatchObject({ model: FAST, max_new_tokens: 16, temperature: 0.3, top_k: 7, messages: [{ role: "user", content: "retry me" }] });

    const [oldRow, newRow] = await Promise.all([stack.api.deps.tasks.findById(original), stack.api.deps.tasks.findById(retried.task_id)]);
    expect(oldRow).toEqual(before);
    expect(newRow).toMatchObject({ ownerId: ann.id, model: FAST, endpoint: "task", messages: before!.messages, configs: before!.configs, batchId: null });
    await completed(retried.task_id, ann.token);
  });

  it("keeps the owner when the admin retries, is 404 for another user, 409 task_not_final for an unfinished task", async () => {
    const ann = await signedInAccount(stack);
    const bob = await signedInAccount(stack);
    const original = await stack.submitAsync(request("owned by ann"), ann.token);
    await completed(original, ann.token);

    const byAdmin = await stack.request(`/v1/ai/tasks/${original}/retry`, { method: "POST" });
    expect(byAdmin.status).toBe(201);
    const adminRetry = (await json(byAdmin)).data.data.task_id;
    expect((await stack.api.deps.tasks.findById(adminRetry))?.ownerId).toBe(ann.id);

    const byBob = await stack.request(`/v1/ai/tasks/${original}/retry`, { method: "POST", key: bob.token });
    expect(byBob.status).toBe(404);
    expectFlexError(await json(byBob), "task_not_found");

    // Held PENDING by a paused queue.
    expect((await stack.request(`/v1/admin/queues/${OTHER}/pause`, { method: "POST" })).status).toBe(200);
    try {
      const pending = await stack.submitAsync(request("still waiting", OTHER), ann.token);
      const tasksBefore = await stack.api.deps.db.task.count();
      const refused = await stack.request(`/v1/ai/tasks/${pending}/retry`, { method: "POST", key: ann.token });
      expect(refused.status).toBe(409);
      expectFlexError(await json(refused), "task_not_final");
      expect(await stack.api.deps.db.task.count()).toBe(tasksBefore);
    } finally {
      await stack.request(`/v1/admin/queues/${OTHER}/resume`, { method: "POST" });
    }
  });
});

describe("/v1/admin/queues", () => {
  it("counts each model's jobs and reports the last hour's throughput and p50/p95 latency per minute", async () => {
    const ann = await signedInAccount(stack);
    const ids = [];
    for (let i = 0; i < 5; i++) ids.push(await stack.submitAsync(request(`stats ${i}`), ann.token));
    for (const id of ids) await completed(id, ann.token);

    // A job turns completed in BullMQ just after its task does in Postgres.
    const queues = await eventually(async () => {
      const all = await queuesNow();
      return all.every((queue) => queue.counts.active === 0) ? all : undefined;
    }, { what: "no active job" });
    expect(queues.map((queue) => queue.model)).toEqual([FAST, OTHER]);
    const fast = queues.find((queue) => queue.model === FAST);
    expect(fast).toMatchObject({ queue_name: "llm_gemma_7b_queue", paused: false });
    expect(Object.keys(fast.counts).sort()).toEqual(["active", "completed", "delayed", "failed", "prioritized", "waiting"]);

    // Against the rows themselves: every COMPLETED task of the model so far finished within the hour.
    const rows = await stack.api.deps.db.task.findMany({ where: { model: FAST, status: "COMPLETED" } });
    const latencies = rows.map((row) => row.completedAt!.getTime() - row.createdAt.getTime());
    expect(fast.counts.completed).toBe(rows.length);
    expect(fast.last_hour).toMatchObject({ completed: rows.length, failed: 0, p50_ms: Math.round(percentile(latencies, 0.5)), p95_ms: Math.round(percentile(latencies, 0.95)) });

    const buckets = fast.last_hour.per_minute as { minute: string; completed: number; failed: number; p50_ms: number | null }[];
    expect(buckets).toHaveLength(60);
    const minutes = buckets.map((bucket) => Date.parse(bucket.minute));
    expect(minutes.every((minute, index) => index === 0 || minute - minutes[index - 1]! === 60_000)).toBe(true);
    expect(minutes[59]).toBeGreaterThan(Date.now() - 120_000);
    expect(buckets.reduce((sum, bucket) => sum + bucket.completed, 0)).toBe(rows.length);
    for (const bucket of buckets) {
      const inMinute = rows.filter((row) => Math.floor(row.completedAt!.getTime() / 60_000) * 60_000 === Date.parse(bucket.minute));
      expect(bucket.completed).toBe(inMinute.length);
      if (inMinute.length === 0) expect(bucket.p50_ms).toBeNull();
    }
  });

  it("pauses a queue (its jobs stay waiting while other queues run) and resumes it", async () => {
    const ann = await signedInAccount(stack);
    const paused = await stack.request(`/v1/admin/queues/${FAST}/pause`, { method: "POST" });
    expect(paused.status).toBe(200);
    expect((await json(paused)).data.data).toEqual({ model: FAST, paused: true });
    try {
      const held = await stack.submitAsync(request("held by the pause"), ann.token);
      // Submitted after the held one, on a running queue: once it is done, the worker was free to take the held task.
      await completed(await stack.submitAsync(request("not paused", OTHER), ann.token), ann.token);
      const fast = (await queuesNow()).find((queue) => queue.model === FAST);
      expect(fast.paused).toBe(true);
      expect(fast.counts.waiting).toBe(1);
      expect((await taskOf(held, ann.token)).status).toBe("PENDING");

      const resumed = await stack.request(`/v1/admin/queues/${FAST}/resume`, { method: "POST" });
      expect((await json(resumed)).data.data).toEqual({ model: FAST, paused: false });
      await completed(held, ann.token);
      expect((await queuesNow()).find((queue) => queue.model === FAST).paused).toBe(false);
    } finally {
      await stack.request(`/v1/admin/queues/${FAST}/resume`, { method: "POST" });
    }
  });

  it("is admin only (403), and an unknown model is 404 model_not_found", async () => {
    const ann = await signedInAccount(stack);
    for (const [method, path] of [["GET", "/v1/admin/queues"], ["POST", `/v1/admin/queues/${FAST}/pause`], ["POST", `/v1/admin/queues/${FAST}/resume`]] as const) {
      const res = await stack.request(path, { method, key: ann.token });
      expect(res.status).toBe(403);
    }
    const unknown = await stack.request("/v1/admin/queues/no-such-model/pause", { method: "POST" });
    expect(unknown.status).toBe(404);
    expectFlexError(await json(unknown), "model_not_found");
  });
});
