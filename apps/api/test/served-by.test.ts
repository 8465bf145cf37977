import { adminUpstreamsSchema } from "@llmq/contract";
import { eventually, json } from "@llmq/testkit";
import { type TestStack, startTestStack } from "@llmq/stack";

/**
 * Issue 16, visible to operators only: which upstream served a task. The admin's view of a task (the task
 * dialect's GET, its submit, cancel and stream answers) carries `upstream` and `served_model`; a tenant's
 * never names an upstream. And GET /v1/admin/upstreams shows what real workers reported after real tasks.
 */

const MODEL = "llama-3.1-8b-instruct";
const COUNTED = "gemma-7b";
// Distinctive names, so "the tenant's body never contains them" means something.
const SECRET_UPSTREAM = "gpu-pool-secret-a";
const COUNTED_UPSTREAM = "counted-pool-b";

const MODELS = {
  providers: { fast: { type: "simulated", first_token_ms: 5, tokens_per_second: 2000 } },
  models: [
    { id: COUNTED, concurrency: 4, upstreams: [{ provider: "fast", name: COUNTED_UPSTREAM, max_concurrency: 2, requests_per_minute: 1_000 }] },
    { id: MODEL, concurrency: 4, upstreams: [{ provider: "fast", name: SECRET_UPSTREAM, max_concurrency: 2 }] },
  ],
};

let stack: TestStack;
let tenantKey: string;

beforeAll(async () => {
  stack = await startTestStack({ models: MODELS });
  const created = await stack.request("/v1/admin/keys", { method: "POST", json: { name: "served-by-tenant" } });
  expect(created.status).toBe(201);
  tenantKey = (await json(created)).data.data.key;
});
afterAll(async () => {
  await stack?.close();
});

const request = (content: string, model = MODEL) => ({ messages: [{ role: "user", content }], configs: { model, max_tokens: 8 } });

/** Submits and waits for the task as the given key; answers the final envelope's raw text and JSON. */
async function submitWaited(key: string | undefined, content: string, model = MODEL) {
  const res = await stack.request("/v1/ai/text_completion", { method: "POST", json: request(content, model), key });
  expect(res.status).toBe(200);
  const text = await res.text();
  const body = JSON.parse(text);
  expect(body.data.data.status).toBe("COMPLETED");
  return { text, body };
}

async function getTask(taskId: string, key?: string) {
  const res = await stack.request(`/v1/ai/tasks/${taskId}`, { key });
  expect(res.status).toBe(200);
  const text = await res.text();
  return { text, body: JSON.parse(text) };
}

describe("which upstream served a task: the admin's to see, never a tenant's", () => {
  it("the admin's GET of a tenant's task shows upstream and served_model; the tenant's answers never name the upstream", async () => {
    const submitted = await submitWaited(tenantKey, "who served me?");
    const taskId: string = submitted.body.data.data.task_id;
    // The tenant's own answers: the waited submit, the GET, the replayed event stream (its result envelope).
    expect(submitted.body.data.data).not.toHaveProperty("upstream");
    expect(submitted.body.data.data).not.toHaveProperty("served_model");
    expect(submitted.text).not.toContain(SECRET_UPSTREAM);
    const tenantGet = await getTask(taskId, tenantKey);
    expect(tenantGet.body.data.data).not.toHaveProperty("upstream");
    expect(tenantGet.body.data.data).not.toHaveProperty("served_model");
    expect(tenantGet.text).not.toContain(SECRET_UPSTREAM);
    const events = await stack.request(`/v1/ai/tasks/${taskId}/events`, { key: tenantKey });
    expect(events.status).toBe(200);
    const stream = await events.text();
    expect(stream).toContain("event: result");
    expect(stream).not.toContain(SECRET_UPSTREAM);

    // The admin's GET of the same task.
    const adminGet = await getTask(taskId);
    expect(adminGet.body.data.data).toMatchObject({ task_id: taskId, status: "COMPLETED", upstream: SECRET_UPSTREAM, served_model: MODEL });
    // The admin's event stream ends with the same envelope.
    const adminStream = await (await stack.request(`/v1/ai/tasks/${taskId}/events`)).text();
    const result = adminStream.split("\n\n").find((block) => block.includes("event: result"))!;
    const data = JSON.parse(result.split("\n").find((line) => line.startsWith("data: "))!.slice("data: ".length));
    expect(data.data.data).toMatchObject({ upstream: SECRET_UPSTREAM, served_model: MODEL });
  });

  it("a task not served yet shows the admin upstream and served_model null", async () => {
    // Paused queue: the task waits, nothing served it.
    expect((await stack.request(`/v1/admin/queues/${MODEL}/pause`, { method: "POST" })).status).toBe(200);
    try {
      const res = await stack.request("/v1/ai/text_completion?async=true", { method: "POST", json: request("wait for me"), key: tenantKey });
      expect(res.status).toBe(202);
      const taskId: string = (await json(res)).data.data.task_id;
      expect((await getTask(taskId)).body.data.data).toMatchObject({ status: "PENDING", upstream: null, served_model: null });
      expect((await getTask(taskId, tenantKey)).body.data.data).not.toHaveProperty("upstream");
      const cancelled = await stack.request(`/v1/ai/tasks/${taskId}/cancel`, { method: "POST" });
      expect(cancelled.status).toBe(200);
      expect((await json(cancelled)).data.data).toMatchObject({ status: "CANCELLED", upstream: null, served_model: null });
    } finally {
      expect((await stack.request(`/v1/admin/queues/${MODEL}/resume`, { method: "POST" })).status).toBe(200);
    }
  });

  it("is declared in /openapi.json: TaskData's upstream and served_model, described as the admin's", async () => {
    const doc = await json(await stack.request("/openapi.json"));
    const props = doc.components.schemas.TaskData.properties;
    expect(props.upstream.description).toMatch(/admin/i);
    expect(props.served_model.description).toMatch(/admin/i);
    expect(doc.components.schemas.TaskData.required).not.toContain("upstream");
  });
});

describe("GET /v1/admin/upstreams after real tasks through a real worker", () => {
  it("shows nothing in flight, a latency and one request of the minute per task", async () => {
    const TASKS = 5;
    const done = await Promise.all(Array.from({ length: TASKS }, (_, i) => submitWaited(tenantKey, `count ${i}`, COUNTED)));
    expect(done.every((d) => d.body.data.data.status === "COMPLETED")).toBe(true);
    // The worker reports after each request; the last report may land just after the task's answer.
    const upstream = await eventually(
      async () => {
        const res = await stack.request("/v1/admin/upstreams");
        expect(res.status).toBe(200);
        const models = adminUpstreamsSchema.parse(await json(res)).data.data.models;
        const entry = models.find((m) => m.model === COUNTED)!.upstreams.find((u) => u.name === COUNTED_UPSTREAM)!;
        return entry.in_flight === 0 && entry.latency_ms !== null ? entry : undefined;
      },
      { timeoutMs: 5_000, what: "the worker's reports" },
    );
    expect(upstream).toMatchObject({ state: "ok", in_flight: 0, max_concurrency: 2, requests_minute: { used: TASKS, limit: 1_000 }, errors_5m: {}, last_error: null });
    expect(upstream.latency_ms!.p50).toBeGreaterThan(0);
    expect(upstream.latency_ms!.p95).toBeGreaterThanOrEqual(upstream.latency_ms!.p50!);
  });
});
