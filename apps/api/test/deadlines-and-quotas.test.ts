import { eventually, json, readSse } from "@llmq/testkit";
import { type TestStack, startTestStack } from "@llmq/testkit/stack";
import OpenAI from "openai";

const FAST = "gemma-7b";
const SLOW = "slow-model";
// Served by no worker unless a test starts one: its tasks stay queued.
const IDLE = "idle-model";
const LATE = "late-model";

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack({
    models: {
      providers: {
        fast: { type: "simulated", first_token_ms: 5, tokens_per_second: 2000 },
        slow: { type: "simulated", first_token_ms: 5, tokens_per_second: 40 },
      },
      models: [
        { id: FAST, provider: "fast", concurrency: 8 },
        { id: SLOW, provider: "slow", concurrency: 4 },
        { id: IDLE, provider: "fast", max_queue_depth: 2 },
        { id: LATE, provider: "fast" },
      ],
    },
    // Sweeper rounds only when a test asks for one.
    env: { WORKER_MODELS: `${FAST},${SLOW}`, SWEEP_INTERVAL_MS: "3600000", SWEEP_AFTER_MS: "100" },
  });
});
afterAll(async () => {
  await stack.close();
});

const task = (model: string, extra: Record<string, unknown> = {}, maxTokens = 8) => ({ messages: [{ role: "user", content: `to ${model}` }], configs: { model, max_tokens: maxTokens }, ...extra });
const get = async (taskId: string, key?: string) => (await json(await stack.request(`/v1/ai/tasks/${taskId}`, { key }))).data.data;
const until = (taskId: string, status: string) => eventually(async () => ((await get(taskId)).status === status ? get(taskId) : undefined), { what: `task ${status}` });

async function newKey(limits: Record<string, number | null>): Promise<{ id: string; key: string }> {
  const res = await stack.request("/v1/admin/keys", { method: "POST", json: { name: "quota", limits } });
  expect(res.status).toBe(201);
  const data = (await json(res)).data.data;
  return { id: data.id, key: data.key };
}

async function taskCount(): Promise<number> {
  const rows = await stack.api.deps.db.$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM tasks`;
  return Number(rows[0]!.n);
}

describe("deadlines", () => {
  it("a task no worker starts within queue_ttl_seconds expires, ends its event stream, and leaves its queue", async () => {
    const taskId = await stack.submitAsync(task(LATE, { queue_ttl_seconds: 1 }));
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    await stack.worker!.sweep();
    const expired = await get(taskId);
    expect(expired).toMatchObject({ status: "EXPIRED", attempts: 0, error: { code: "queue_ttl_exceeded" } });
    const events = await readSse(await stack.request(`/v1/ai/tasks/${taskId}/events`, { signal: AbortSignal.timeout(10_000) }));
    expect(events.filter((e) => e.event === "status").map((e) => JSON.parse(e.data).status)).toEqual(["PENDING", "EXPIRED"]);
    expect(await stack.api.deps.queues.jobState(`llm_late_model_queue`, taskId)).toBeNull();
  });

  it("a worker that takes a job past its queue deadline expires the task instead of running it", async () => {
    const taskId = await stack.submitAsync(task(LATE, { queue_ttl_seconds: 1 }));
    const onTime = await stack.submitAsync(task(LATE, { queue_ttl_seconds: 600 }));
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const late = await stack.startWorker({ WORKER_MODELS: LATE });
    try {
      expect(await until(taskId, "EXPIRED")).toMatchObject({ attempts: 0, response: "", error: { code: "queue_ttl_exceeded" } });
      expect(await until(onTime, "COMPLETED")).toMatchObject({ attempts: 1 });
    } finally {
      await late.close();
    }
  });

  it("an attempt running past timeout_seconds fails with run_timeout, without retry", async () => {
    // 400 tokens at 40 tokens/s would take 10 s.
    const taskId = await stack.submitAsync(task(SLOW, { timeout_seconds: 1 }, 400));
    const failed = await eventually(async () => ((await get(taskId)).status === "FAILED" ? get(taskId) : undefined));
    expect(failed).toMatchObject({ attempts: 1, error: { code: "run_timeout" } });
    expect(failed.error.message).toContain("1 s");
  });

  it("refuses deadlines out of range, naming the field, in both dialects", async () => {
    const flex = await stack.request("/v1/ai/text_completion?async=true", { method: "POST", json: task(FAST, { queue_ttl_seconds: 0 }) });
    expect(flex.status).toBe(400);
    expect((await json(flex)).errors[0].param).toBe("queue_ttl_seconds");
    const openai = await stack.request("/v1/chat/completions", { method: "POST", json: { model: FAST, messages: [{ role: "user", content: "x" }], timeout_seconds: -1 } });
    expect(openai.status).toBe(400);
    expect((await json(openai)).error.param).toBe("timeout_seconds");
  });
});

describe("backpressure", () => {
  it("a model queue holding max_queue_depth interactive tasks answers 503 with Retry-After in either dialect, and writes nothing", async () => {
    await stack.submitAsync(task(IDLE));
    await stack.submitAsync(task(IDLE));
    const before = await taskCount();
    const flex = await stack.request("/v1/ai/text_completion?async=true", { method: "POST", json: task(IDLE) });
    expect(flex.status).toBe(503);
    expect(flex.headers.get("retry-after")).toBe("5");
    expect((await json(flex)).errors[0].code).toBe("queue_full");

    const client = new OpenAI({ baseURL: `${stack.url}/v1`, apiKey: stack.adminKey, maxRetries: 0 });
    const refused = await client.chat.completions.create({ model: IDLE, messages: [{ role: "user", content: "x" }] }).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(OpenAI.InternalServerError);
    expect((refused as InstanceType<typeof OpenAI.InternalServerError>).status).toBe(503);
    expect((refused as InstanceType<typeof OpenAI.InternalServerError>).code).toBe("queue_full");
    expect(await taskCount()).toBe(before);

    // Batch items wait in their own lane: a batch for the same model is still accepted.
    const batch = await stack.request("/v1/ai/batches", { method: "POST", json: { requests: [task(IDLE), task(IDLE), task(IDLE)] } });
    expect(batch.status).toBe(200);
  });
});

describe("per-key quotas", () => {
  it("a key at its concurrent-task limit gets 429 until one of its tasks ends", async () => {
    const { key } = await newKey({ max_concurrent_tasks: 2 });
    const first = await stack.submitAsync(task(LATE), key);
    await stack.submitAsync(task(LATE), key);
    const refused = await stack.request("/v1/ai/text_completion?async=true", { method: "POST", json: task(LATE), key });
    expect(refused.status).toBe(429);
    expect(refused.headers.get("retry-after")).toBe("1");
    expect((await json(refused)).errors[0].code).toBe("concurrency_limit_exceeded");
    // Another key is not held back by this one's tasks.
    expect((await stack.request("/v1/ai/text_completion?async=true", { method: "POST", json: task(LATE) })).status).toBe(202);

    await stack.request(`/v1/ai/tasks/${first}/cancel`, { method: "POST", key });
    expect((await stack.request("/v1/ai/text_completion?async=true", { method: "POST", json: task(LATE), key })).status).toBe(202);
  });

  it("a key past its tokens for the day gets 429 until UTC midnight, in either dialect", async () => {
    const { key } = await newKey({ tokens_per_day: 10 });
    const done = await stack.submitAsync(task(FAST, {}, 8), key);
    const completed = await until(done, "COMPLETED");
    expect(completed.usage.total_tokens).toBeGreaterThanOrEqual(10);

    const refused = await eventually(async () => {
      const res = await stack.request("/v1/ai/text_completion?async=true", { method: "POST", json: task(FAST), key });
      return res.status === 429 ? res : undefined;
    });
    const body = await json(refused);
    expect(body.errors[0].code).toBe("token_quota_exceeded");
    const retryAfter = Number(refused.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(86_400);

    const client = new OpenAI({ baseURL: `${stack.url}/v1`, apiKey: key, maxRetries: 0 });
    const error = await client.chat.completions.create({ model: FAST, messages: [{ role: "user", content: "x" }] }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(OpenAI.RateLimitError);
    expect((error as InstanceType<typeof OpenAI.RateLimitError>).code).toBe("token_quota_exceeded");
    // Batches count against the same quota.
    expect((await stack.request("/v1/ai/batches", { method: "POST", json: { requests: [task(FAST)] }, key })).status).toBe(429);
  });

  it("a key's own rate limit replaces the default, and the admin can change it", async () => {
    const { id, key } = await newKey({ rate_limit_per_minute: 2 });
    const submit = () => stack.request("/v1/ai/text_completion?async=true", { method: "POST", json: task(FAST), key });
    expect((await submit()).status).toBe(202);
    expect((await submit()).status).toBe(202);
    const limited = await submit();
    expect(limited.status).toBe(429);
    expect(limited.headers.get("x-ratelimit-limit")).toBe("2");

    const patched = await stack.request(`/v1/admin/keys/${id}`, { method: "PATCH", json: { limits: { rate_limit_per_minute: null } } });
    expect(patched.status).toBe(200);
    expect((await json(patched)).data.data.limits).toEqual({ rate_limit_per_minute: null, max_concurrent_tasks: null, tokens_per_day: null });
    expect((await submit()).status).toBe(202);
  });
});
