import { eventually, json, readSse } from "@llmq/testkit";
import { type TestStack, startTestStack } from "@llmq/stack";
import OpenAI, { toFile } from "openai";
import { createAccount, login } from "./account-support";

const FAST = "gemma-7b";
const SLOW = "slow-model";
// Served by no worker unless a test starts one: its tasks stay queued.
const IDLE = "idle-model";
const LATE = "late-model";
// Served by no worker either: its depth is counted in the test that sends flex work to it.
const IDLE_FLEX = "idle-flex-model";

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
        { id: IDLE_FLEX, provider: "fast", max_queue_depth: 3 },
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

  it("interactive flex tasks count toward max_queue_depth (service_tier is no way past it); a native batch's items do not", async () => {
    // A native batch's 5 items wait in the queue first: more than the limit of 3, yet none counts.
    const batch = await stack.request("/v1/ai/batches", { method: "POST", json: { requests: Array.from({ length: 5 }, () => task(IDLE_FLEX)) } });
    expect(batch.status).toBe(200);
    await eventually(async () => ((await stack.api.deps.queues.counts("llm_idle_flex_model_queue")).waiting === 5 ? true : undefined), { what: "the batch's 5 items in the run queue" });
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) {
      statuses.push((await stack.request("/v1/ai/text_completion?async=true", { method: "POST", json: task(IDLE_FLEX, { service_tier: "flex" }) })).status);
    }
    expect(statuses).toEqual([202, 202, 202]);
    // Past QUEUE_DEPTH_STALE_MS (1 s): the next admission reads the queue's count in Redis, not only this
    // process's own admissions since its last read (what another API process would see).
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const before = await taskCount();
    const refused = await stack.request("/v1/ai/text_completion?async=true", { method: "POST", json: task(IDLE_FLEX, { service_tier: "flex" }) });
    expect(refused.status).toBe(503);
    expect(refused.headers.get("retry-after")).toBe("5");
    expect((await json(refused)).errors[0].code).toBe("queue_full");
    const client = new OpenAI({ baseURL: `${stack.url}/v1`, apiKey: stack.adminKey, maxRetries: 0 });
    const openai = await client.chat.completions
      .create({ model: IDLE_FLEX, messages: [{ role: "user", content: "x" }], service_tier: "flex" })
      .catch((error: unknown) => error);
    expect((openai as InstanceType<typeof OpenAI.InternalServerError>).status).toBe(503);
    expect((openai as InstanceType<typeof OpenAI.InternalServerError>).code).toBe("queue_full");
    expect(await taskCount()).toBe(before);
    expect(await stack.api.deps.queues.counts("llm_idle_flex_model_queue")).toMatchObject({ waiting: 8 });
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
    expect((await json(patched)).data.data.limits).toEqual({ rate_limit_per_minute: null, max_concurrent_tasks: null, tokens_per_day: null, max_open_streams: null, fair_share_weight: null });
    expect((await submit()).status).toBe(202);
  });

  it("a rate limit has no calendar edge: a burst of the limit, then one request each 60/limit s as the allowance refills", async () => {
    // 30 a minute: a burst of 30, then one every 2 s. Fixed one-minute windows refused the 31st until the
    // minute ended (or, at a minute's edge, let 60 through within a second). (The 2 s refill leaves room
    // for a burst slowed by a loaded machine.)
    const { id, key } = await newKey({ rate_limit_per_minute: 30 });
    const submit = () => stack.request("/v1/ai/text_completion?async=true", { method: "POST", json: task(FAST), key });
    const burst = await Promise.all(Array.from({ length: 30 }, submit));
    expect(burst.map((res) => res.status)).toEqual(Array(30).fill(202));
    const refused = await submit();
    expect(refused.status).toBe(429);
    expect(refused.headers.get("x-ratelimit-remaining")).toBe("0");
    expect(Number(refused.headers.get("retry-after"))).toBeLessThanOrEqual(2);
    await new Promise((resolve) => setTimeout(resolve, 2_100));
    expect((await submit()).status).toBe(202);
    // Only what the time since the burst refilled (a request each 2 s), not a new minute's 30.
    const after = await Promise.all(Array.from({ length: 10 }, submit));
    expect(after.filter((res) => res.status === 202).length).toBeLessThan(5);

    // A raised limit applies at once: what was used counts as requests, not as time (about 31 of 120 are
    // used, so 55 more pass; counted as time, 60 s of a 60 s allowance, none would).
    const raised = await stack.request(`/v1/admin/keys/${id}`, { method: "PATCH", json: { limits: { rate_limit_per_minute: 120 } } });
    expect(raised.status).toBe(200);
    const more = await Promise.all(Array.from({ length: 55 }, submit));
    expect(more.map((res) => res.status)).toEqual(Array(55).fill(202));
  });
});

/** `quota` of `GET /v1/users/me`: the caller's limits and today's token counters. */
async function quotaOf(bearer: string) {
  const res = await stack.request("/v1/users/me", { key: bearer });
  expect(res.status).toBe(200);
  return (await json(res)).data.data.quota as { limits: { key: Record<string, number> | null; user: Record<string, number> }; tokens_today: { key: number | null; user: number } };
}

/** An account with a password, one key (with `limits`) and a signed-in session. */
async function tenant(limits: Record<string, number | null> = {}) {
  const account = await createAccount(stack);
  const res = await stack.request("/v1/admin/keys", { method: "POST", json: { name: "tenant", user_id: account.id, limits } });
  expect(res.status).toBe(201);
  const key = (await json(res)).data.data as { id: string; key: string };
  const grant = await login(stack, account.email, account.password);
  return { userId: account.id, keyId: key.id, key: key.key, session: grant.access_token };
}

async function addKey(userId: string, limits: Record<string, number | null> = {}): Promise<string> {
  const res = await stack.request("/v1/admin/keys", { method: "POST", json: { name: "another", user_id: userId, limits } });
  expect(res.status).toBe(201);
  return (await json(res)).data.data.key;
}

const submit = (bearer: string, body: unknown = task(LATE)) => stack.request("/v1/ai/text_completion?async=true", { method: "POST", json: body, key: bearer });
const nativeBatch = (bearer: string, requests: unknown[]) => stack.request("/v1/ai/batches", { method: "POST", json: { requests }, key: bearer });

async function rowCounts() {
  return { tasks: await taskCount(), batches: await stack.api.deps.db.batch.count() };
}

async function finishedBatch(batchId: string, bearer: string) {
  return eventually(async () => {
    const batch = (await json(await stack.request(`/v1/ai/batches/${batchId}`, { key: bearer }))).data.data;
    return ["completed", "cancelled", "expired", "failed"].includes(batch.status) ? batch : undefined;
  }, { what: `batch ${batchId} final` });
}

/** Prompt + completion tokens of every task of a batch, as its results report them. */
async function batchUsage(batchId: string, bearer: string): Promise<number> {
  const text = await (await stack.request(`/v1/ai/batches/${batchId}/results`, { key: bearer })).text();
  return text
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line) as { usage: { prompt_tokens: number | null; completion_tokens: number } })
    .reduce((sum, line) => sum + (line.usage.prompt_tokens ?? 0) + line.usage.completion_tokens, 0);
}

describe("quotas follow every task to its key and its user (batches included)", () => {
  it("refuses a native batch whose reservation (prompt estimate + max_tokens of each item) passes the key's tokens_per_day, writing nothing", async () => {
    const { key } = await newKey({ tokens_per_day: 50 });
    const before = await rowCounts();
    const refused = await nativeBatch(key, [task(FAST, {}, 32), task(FAST, {}, 32)]);
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0);
    expect((await json(refused)).errors[0].code).toBe("token_quota_exceeded");
    expect(await rowCounts()).toEqual(before);
    // A batch that fits is admitted.
    expect((await nativeBatch(key, [task(FAST, {}, 16)])).status).toBe(200);
  });

  it("counts a batch's real usage against its key: once past the quota, tasks and batches get 429", async () => {
    const { id, key } = await newKey({ tokens_per_day: 100_000 });
    const created = await nativeBatch(key, [task(FAST, {}, 16), task(FAST, {}, 16), task(FAST, {}, 16)]);
    expect(created.status).toBe(200);
    const batchId = (await json(created)).data.data.batch_id;
    expect((await finishedBatch(batchId, key)).status).toBe("completed");
    const used = await batchUsage(batchId, key);
    expect(used).toBeGreaterThan(48);
    await eventually(async () => ((await quotaOf(key)).tokens_today.key === used ? true : undefined), { what: `the key's counter at ${used}` });

    expect((await stack.request(`/v1/admin/keys/${id}`, { method: "PATCH", json: { limits: { tokens_per_day: used } } })).status).toBe(200);
    const refused = await submit(key, task(FAST));
    expect(refused.status).toBe(429);
    expect((await json(refused)).errors[0].code).toBe("token_quota_exceeded");
    expect((await nativeBatch(key, [task(FAST, {}, 1)])).status).toBe(429);
  });

  it("keeps a queued batch's reservation against the key and the user, and gives all of it back when the batch is cancelled", async () => {
    const { key, session } = await tenant({ tokens_per_day: 100_000 });
    const created = await nativeBatch(key, Array.from({ length: 10 }, () => task(LATE, {}, 64)));
    expect(created.status).toBe(200);
    const batchId = (await json(created)).data.data.batch_id;
    const reserved = await quotaOf(key);
    expect(reserved.tokens_today.key).toBeGreaterThanOrEqual(10 * 64);
    // The session's counter is its user's: the same reservation.
    expect((await quotaOf(session)).tokens_today).toEqual({ key: null, user: reserved.tokens_today.key });

    expect((await stack.request(`/v1/ai/batches/${batchId}/cancel`, { method: "POST", key })).status).toBe(200);
    expect((await finishedBatch(batchId, key)).status).toBe("cancelled");
    await eventually(async () => ((await quotaOf(key)).tokens_today.key === 0 ? true : undefined), { what: "the reservation given back" });
    expect((await quotaOf(session)).tokens_today.user).toBe(0);
  });

  it("settles a batch that used less than it reserved (10 x 64): the counter ends at the real usage", async () => {
    const { key } = await newKey({ tokens_per_day: 100_000 });
    // Stopped at the first full stop: each answer is far shorter than its 64-token budget.
    const created = await nativeBatch(key, Array.from({ length: 10 }, (_, i) => ({ messages: [{ role: "user", content: `short answer ${i}` }], configs: { model: FAST, max_tokens: 64, stop: ["."] } })));
    const batchId = (await json(created)).data.data.batch_id;
    expect((await finishedBatch(batchId, key)).status).toBe("completed");
    const used = await batchUsage(batchId, key);
    expect(used).toBeGreaterThan(0);
    expect(used).toBeLessThan(10 * 64);
    await eventually(async () => ((await quotaOf(key)).tokens_today.key === used ? true : undefined), { what: `the key's counter at ${used}` });
  });

  it("fails an OpenAI batch whose file needs more tokens than the key has left with token_quota_exceeded, creating no task", async () => {
    const { key } = await newKey({ tokens_per_day: 50 });
    const client = new OpenAI({ baseURL: `${stack.url}/v1`, apiKey: key, maxRetries: 0 });
    const lines = [0, 1].map((i) => JSON.stringify({ custom_id: `q${i}`, method: "POST", url: "/v1/chat/completions", body: { model: FAST, messages: [{ role: "user", content: "x" }], max_tokens: 32 } }));
    const file = await client.files.create({ file: await toFile(Buffer.from(`${lines.join("\n")}\n`), "input.jsonl"), purpose: "batch" });
    const before = await taskCount();
    const created = await client.batches.create({ input_file_id: file.id, endpoint: "/v1/chat/completions", completion_window: "24h" });
    const batch = await eventually(async () => {
      const current = await client.batches.retrieve(created.id);
      return ["completed", "failed", "cancelled", "expired"].includes(current.status) ? current : undefined;
    });
    expect(batch.status).toBe("failed");
    expect(batch.errors?.data?.map((error) => error.code)).toEqual(["token_quota_exceeded"]);
    expect(await taskCount()).toBe(before);
    expect((await quotaOf(key)).tokens_today.key).toBe(0);
  });

  it("holds a signed-in session to its user's limits: concurrency, as with the key", async () => {
    const { key, session } = await tenant({ max_concurrent_tasks: 2 });
    expect((await submit(session)).status).toBe(202);
    expect((await submit(session)).status).toBe(202);
    const refused = await submit(session);
    expect(refused.status).toBe(429);
    expect((await json(refused)).errors[0].code).toBe("concurrency_limit_exceeded");
    // The key's own count is 0, but its user already has 2 open tasks.
    expect((await submit(key)).status).toBe(429);
  });

  it("holds a signed-in session to its user's limits: requests per minute, shared with the key", async () => {
    const { key, session } = await tenant({ rate_limit_per_minute: 2 });
    expect((await submit(session, task(FAST))).status).toBe(202);
    expect((await submit(key, task(FAST))).status).toBe(202);
    const refused = await submit(session, task(FAST));
    expect(refused.status).toBe(429);
    expect((await json(refused)).errors[0].code).toBe("rate_limit_exceeded");
    expect(refused.headers.get("x-ratelimit-limit")).toBe("2");
  });

  it("holds a signed-in session to its user's limits: tokens per day, shared with the key", async () => {
    const { key, session } = await tenant({ tokens_per_day: 10 });
    const done = await stack.submitAsync(task(FAST, {}, 8), session);
    expect((await until(done, "COMPLETED")).usage.total_tokens).toBeGreaterThanOrEqual(10);
    const refused = await eventually(async () => {
      const res = await submit(session, task(FAST));
      return res.status === 429 ? res : undefined;
    });
    expect((await json(refused)).errors[0].code).toBe("token_quota_exceeded");
    expect((await submit(key, task(FAST))).status).toBe(429);
  });

  it("sums a user's keys when the user has no limit of its own (any unlimited key makes it unlimited), and PATCH /v1/admin/users sets one", async () => {
    const { userId, key, session } = await tenant({ rate_limit_per_minute: 2 });
    const second = await addKey(userId, { rate_limit_per_minute: 3 });
    expect((await quotaOf(session)).limits.user.rate_limit_per_minute).toBe(5);
    expect((await submit(key, task(FAST))).status).toBe(202);
    expect((await submit(key, task(FAST))).status).toBe(202);
    expect((await submit(key, task(FAST))).status).toBe(429); // the key's own 2
    for (let i = 0; i < 3; i++) expect((await submit(second, task(FAST))).status).toBe(202);
    expect((await submit(session, task(FAST))).status).toBe(429); // the user's 2 + 3

    const patched = await stack.request(`/v1/admin/users/${userId}`, { method: "PATCH", json: { limits: { rate_limit_per_minute: 0, max_concurrent_tasks: 1 } } });
    expect(patched.status).toBe(200);
    expect((await json(patched)).data.data.limits).toEqual({ rate_limit_per_minute: 0, max_concurrent_tasks: 1, tokens_per_day: null, max_open_streams: null, fair_share_weight: null });
    const listed = (await json(await stack.request("/v1/admin/users"))).data.data.find((user: { id: string }) => user.id === userId);
    expect(listed.limits).toEqual({ rate_limit_per_minute: 0, max_concurrent_tasks: 1, tokens_per_day: null, max_open_streams: null, fair_share_weight: null });
    // Unlimited rate for the user now (each key keeps its own); one open task for the whole user, keys and session alike.
    const third = await addKey(userId);
    await eventually(async () => ((await submit(session)).status === 202 ? true : undefined), { what: "the session's task (once the earlier ones ended)" });
    expect((await json(await submit(third))).errors[0].code).toBe("concurrency_limit_exceeded");
    expect((await json(await submit(session))).errors[0].code).toBe("concurrency_limit_exceeded");
    expect((await json(await submit(key))).errors[0].code).toBe("rate_limit_exceeded");
  });

  it("lets only the admin set a user's limits: the tenant itself gets 403 (key or session); 404 for an unknown user, 400 for a bad limit", async () => {
    const { userId, key, session } = await tenant({ tokens_per_day: 10 });
    for (const bearer of [key, session]) {
      const refused = await stack.request(`/v1/admin/users/${userId}`, { method: "PATCH", json: { limits: { tokens_per_day: 0 } }, key: bearer });
      expect(refused.status).toBe(403);
      expect((await json(refused)).errors[0].code).toBe("permission_denied");
    }
    expect((await quotaOf(session)).limits.user.tokens_per_day).toBe(10);
    const missing = await stack.request("/v1/admin/users/00000000-0000-4000-8000-00000000abcd", { method: "PATCH", json: { limits: { tokens_per_day: 5 } } });
    expect(missing.status).toBe(404);
    expect((await json(missing)).errors[0].code).toBe("user_not_found");
    const bad = await stack.request(`/v1/admin/users/${userId}`, { method: "PATCH", json: { limits: { tokens_per_day: -1 } } });
    expect(bad.status).toBe(400);
    expect((await json(bad)).errors[0].param).toBe("limits.tokens_per_day");
  });
});
