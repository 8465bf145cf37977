// Redis killed and restarted, Postgres stopped for ten seconds: each on a server of this suite's own, so
// other suites keep theirs. Workers run as OS processes that live through the outage.
import type { ChildProcess } from "node:child_process";
import type { TaskRecord } from "@llmq/db";
import { type PrivatePostgres, type PrivateRedis, eventually, json, startPrivatePostgres, startPrivateRedis } from "@llmq/testkit";
import { FAST_AND_SLOW_MODELS, type TestStack, startTestStack } from "@llmq/stack";

const FINAL = ["COMPLETED", "FAILED", "CANCELLED", "EXPIRED"];

function submitFlex(stack: TestStack, content: string, model = "gemma-7b") {
  return stack.request("/v1/ai/text_completion?async=true", {
    method: "POST",
    json: { messages: [{ role: "user", content }], configs: { model, max_tokens: 40, temperature: 0 } },
    signal: AbortSignal.timeout(15_000),
  });
}

function submitOpenAI(stack: TestStack, content: string) {
  return stack.request("/v1/chat/completions", {
    method: "POST",
    json: { model: "gemma-7b", messages: [{ role: "user", content }], max_tokens: 20 },
    signal: AbortSignal.timeout(15_000),
  });
}

async function taskOf(stack: TestStack, taskId: string): Promise<TaskRecord> {
  const task = await stack.api.deps.tasks.findById(taskId);
  if (!task) throw new Error(`no task ${taskId}`);
  return task;
}

function waitForFinal(stack: TestStack, taskId: string, timeoutMs = 60_000): Promise<TaskRecord> {
  return eventually(
    async () => {
      const task = await taskOf(stack, taskId);
      return FINAL.includes(task.status) ? task : undefined;
    },
    { timeoutMs, intervalMs: 200, what: `task ${taskId} final` },
  );
}

/** Both dialects answer 503 with Retry-After in their own error shape, promptly (the request does not hang). */
async function expectUnavailable(stack: TestStack, label: string): Promise<void> {
  const flex = await submitFlex(stack, `${label}: flexstack while down`);
  expect(flex.status).toBe(503);
  expect(flex.headers.get("retry-after")).toEqual(expect.stringMatching(/^\d+$/));
  const flexBody = await json(flex);
  expect(flexBody).toMatchObject({ data: null, status: "error", error_description: expect.stringMatching(/unavailable/i) });
  expect(flexBody.errors[0]).toMatchObject({ code: expect.any(String), message: expect.stringMatching(/unavailable/i) });

  const openai = await submitOpenAI(stack, `${label}: openai while down`);
  expect(openai.status).toBe(503);
  expect(openai.headers.get("retry-after")).toEqual(expect.stringMatching(/^\d+$/));
  expect((await json(openai)).error).toMatchObject({ type: "service_unavailable", message: expect.stringMatching(/unavailable/i) });
}

function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
}

describe("Redis killed and restarted", () => {
  let redis: PrivateRedis;
  let stack: TestStack;
  beforeAll(async () => {
    // `appendfsync always`: this test's premise is that every acknowledged write survives the SIGKILL.
    // With `everysec` (the default) Redis may postpone the fsync up to 2 s while an earlier one is slow
    // (documented in redis.conf), so on a loaded machine the queued entries were once missing after the
    // restart, a failure of the test's setup rather than of the code under test.
    redis = await startPrivateRedis({ appendfsync: "always" });
    // No worker in this process: the one serving gemma-7b is an OS process that lives through the
    // outage; nobody serves llama-3.1-8b-instruct until after it, so its tasks wait in Redis.
    stack = await startTestStack({ redisUrl: redis.url, worker: false, models: FAST_AND_SLOW_MODELS, env: { SWEEP_INTERVAL_MS: "3600000" } });
  });
  afterAll(async () => {
    await stack?.close();
    await redis?.destroy();
  });

  it("keeps queued tasks, answers 503 while down, and its workers resume on their own", async () => {
    const survivor = await stack.spawnWorker({ WORKER_MODELS: "gemma-7b" });
    const queued = await Promise.all([1, 2, 3, 4].map((i) => stack.submitAsync({ messages: [{ role: "user", content: `queued ${i}` }], configs: { model: "llama-3.1-8b-instruct", max_tokens: 10 } })));
    for (const taskId of queued) expect(await stack.api.deps.queues.jobState("llm_llama_3_1_8b_instruct_queue", taskId)).toMatchObject({ state: "waiting" });
    const before = await stack.api.deps.db.task.count();

    await redis.kill("SIGKILL");
    await expectUnavailable(stack, "redis");
    const ready = await stack.request("/readyz");
    expect(ready.status).toBe(503);
    expect((await json(ready)).checks).toEqual({ postgres: "ok", redis: "down" });
    // Refused submissions left nothing behind: their rows were withdrawn.
    expect(await stack.api.deps.db.task.count()).toBe(before);

    await redis.start();
    await eventually(async () => ((await stack.request("/readyz")).status === 200 ? true : undefined), { timeoutMs: 30_000, what: "ready again" });
    // The AOF brought the queued jobs back.
    for (const taskId of queued) {
      expect(await stack.api.deps.queues.jobState("llm_llama_3_1_8b_instruct_queue", taskId)).toMatchObject({ state: "waiting" });
    }

    // The worker that lived through the outage takes new work without being restarted.
    const res = await eventually(
      async () => {
        const attempt = await submitFlex(stack, "after the restart");
        return attempt.status === 202 ? attempt : undefined;
      },
      { timeoutMs: 30_000, what: "a submission accepted again" },
    );
    const afterId = (await json(res)).data.data.task_id as string;
    expect(await waitForFinal(stack, afterId)).toMatchObject({ status: "COMPLETED", attempts: 1 });

    // And the tasks queued before the outage run once someone serves their model.
    const late = await stack.spawnWorker({ WORKER_MODELS: "llama-3.1-8b-instruct" });
    for (const taskId of queued) expect(await waitForFinal(stack, taskId)).toMatchObject({ status: "COMPLETED", attempts: 1, errorCode: null });

    for (const worker of [survivor, late]) worker.kill("SIGTERM");
    expect(await Promise.all([exited(survivor), exited(late)])).toEqual([{ code: 0, signal: null }, { code: 0, signal: null }]);
  });
});

describe("Postgres stopped for ten seconds", () => {
  let postgres: PrivatePostgres;
  let stack: TestStack;
  beforeAll(async () => {
    postgres = await startPrivatePostgres();
    stack = await startTestStack({ databaseUrl: postgres.url, worker: false, models: FAST_AND_SLOW_MODELS, env: { SWEEP_INTERVAL_MS: "1000", SWEEP_AFTER_MS: "5000" } });
  });
  afterAll(async () => {
    await stack?.close();
    await postgres?.destroy();
  });

  it("answers 503 and fails readiness while down, recovers by itself, and loses no task", async () => {
    const worker = await stack.spawnWorker();
    // Running and queued through the outage: the slow model writes 40 tokens a second, four at a time.
    const inFlight = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        stack.submitAsync({ messages: [{ role: "user", content: `through the outage ${i}` }], configs: { model: "llama-3.1-8b-instruct", max_tokens: 200 } }),
      ),
    );
    await eventually(async () => ((await taskOf(stack, inFlight[0]!)).status === "RUNNING" ? true : undefined), { what: "a task running" });

    await postgres.stop();
    const stoppedAt = Date.now();
    await expectUnavailable(stack, "postgres");
    const ready = await stack.request("/readyz");
    expect(ready.status).toBe(503);
    expect((await json(ready)).checks).toEqual({ postgres: "down", redis: "ok" });
    expect((await stack.request("/healthz")).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, 10_000 - (Date.now() - stoppedAt))));
    await postgres.start();

    await eventually(async () => ((await stack.request("/readyz")).status === 200 ? true : undefined), { timeoutMs: 30_000, what: "ready again" });
    const res = await eventually(
      async () => {
        const attempt = await submitFlex(stack, "after the outage");
        return attempt.status === 202 ? attempt : undefined;
      },
      { timeoutMs: 30_000, what: "a submission accepted again" },
    );
    const afterId = (await json(res)).data.data.task_id as string;

    const done = await Promise.all([...inFlight, afterId].map((taskId) => waitForFinal(stack, taskId, 90_000)));
    for (const task of done) expect(task).toMatchObject({ status: "COMPLETED", percent: 100, errorCode: null });
    expect(await stack.api.deps.db.task.count()).toBe(inFlight.length + 1);

    worker.kill("SIGTERM");
    expect(await exited(worker)).toEqual({ code: 0, signal: null });
  });
});
