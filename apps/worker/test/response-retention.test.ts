// How long a response is kept (issue 15: "resumed at any time while the response is kept, retention
// configurable"): the worker's sweeper erases finished responses older than RESPONSE_RETENTION_HOURS as
// DELETE /v1/responses/{id} erases them (content gone, event stream dropped, the task row kept in the
// history with its usage), counts them on its /metrics, and leaves everything else alone. 0 keeps all.
import type { RunningWorker } from "@llmq/worker";
import { loadWorkerEnv } from "@llmq/worker";
import { type TestStack, startTestStack } from "@llmq/stack";
import { eventually, json, spawnService } from "@llmq/testkit";
import OpenAI, { APIError } from "openai";

const FAST = "gemma-7b";
// Served by no worker: its responses stay queued.
const PARKED = "parked-model";

let stack: TestStack;
let client: OpenAI;
/** Sweeps with RESPONSE_RETENTION_HOURS=24, and serves its metrics. */
let keeper: RunningWorker;

beforeAll(async () => {
  stack = await startTestStack({
    worker: false,
    models: {
      providers: { fast: { type: "simulated", first_token_ms: 5, tokens_per_second: 2000 } },
      models: [
        { id: FAST, provider: "fast", concurrency: 4 },
        { id: PARKED, provider: "fast", concurrency: 1 },
      ],
    },
    // Sweeper rounds only when the test asks for one.
    env: { SWEEP_INTERVAL_MS: "3600000", WORKER_MODELS: FAST },
  });
  // Task retention off: this suite ages rows by weeks and follows what the erasure leaves in the history
  // (TASK_RETENTION_DAYS deleting those rows afterwards is task-retention.test.ts's).
  keeper = await stack.startWorker({ RESPONSE_RETENTION_HOURS: "24", TASK_RETENTION_DAYS: "0", WORKER_METRICS_PORT: "0" });
  client = new OpenAI({ baseURL: `${stack.url}/v1`, apiKey: stack.adminKey, maxRetries: 0 });
});
afterAll(async () => {
  await stack?.close();
});

const taskIdOf = (responseId: string) => responseId.slice("resp_".length);

async function finished(id: string): Promise<OpenAI.Responses.Response> {
  return eventually(async () => {
    const current = await client.responses.retrieve(id);
    return ["completed", "incomplete", "failed", "cancelled"].includes(current.status ?? "") ? current : undefined;
  }, { what: `${id} to finish` });
}

/** Moves a task's life back in time: created `hours` + 1 minute ago and, when it has ended, ended `hours` ago. */
async function age(taskId: string, hours: number): Promise<void> {
  await stack.api.deps.db.$executeRaw`UPDATE tasks SET created_at = now() - ${hours}::int * interval '1 hour' - interval '1 minute',
      completed_at = CASE WHEN completed_at IS NULL THEN NULL ELSE now() - ${hours}::int * interval '1 hour' END
    WHERE task_id = ${taskId}`;
}

async function sdkError(call: () => Promise<unknown>): Promise<APIError> {
  try {
    await call();
  } catch (error) {
    expect(error).toBeInstanceOf(APIError);
    return error as APIError;
  }
  throw new Error("the call succeeded; an API error was expected");
}

async function flexTask(taskId: string) {
  const res = await stack.request(`/v1/ai/tasks/${taskId}`);
  expect(res.status).toBe(200);
  return (await json(res)).data.data;
}

async function erasedCounter(): Promise<number> {
  const text = await (await fetch(keeper.metricsUrl!)).text();
  const line = text.split("\n").find((entry) => entry.startsWith("llmq_responses_erased_total "));
  expect(line).toBeDefined();
  return Number(line!.split(" ")[1]);
}

describe("RESPONSE_RETENTION_HOURS", () => {
  it("is 720 hours unless set, at least 24 when set, and 0 keeps responses until deleted", () => {
    const base = { DATABASE_URL: "postgresql://localhost/x", REDIS_URL: "redis://localhost:6379" };
    expect(loadWorkerEnv(base).RESPONSE_RETENTION_HOURS).toBe(720);
    expect(loadWorkerEnv({ ...base, RESPONSE_RETENTION_HOURS: "0" }).RESPONSE_RETENTION_HOURS).toBe(0);
    expect(loadWorkerEnv({ ...base, RESPONSE_RETENTION_HOURS: "24" }).RESPONSE_RETENTION_HOURS).toBe(24);
    for (const bad of ["12", "23", "-1", "1.5", "a day", "", "87601"]) {
      expect(() => loadWorkerEnv({ ...base, RESPONSE_RETENTION_HOURS: bad })).toThrow(/RESPONSE_RETENTION_HOURS/);
    }
  });
});

describe("the sweeper and responses past their retention", () => {
  it("erases a finished response older than the retention in one sweep, as DELETE would; a younger one, an unfinished one and a task are untouched", async () => {
    const old = await client.responses.create({ model: FAST, input: "an old secret", background: true });
    const oldDone = await finished(old.id);
    const cancelledOld = await client.responses.create({ model: PARKED, input: "cancelled long ago", background: true });
    await client.responses.cancel(cancelledOld.id);
    const young = await client.responses.create({ model: FAST, input: "a recent question", background: true });
    const youngDone = await finished(young.id);
    const unfinished = await client.responses.create({ model: PARKED, input: "still waiting", background: true });
    const taskId = await stack.submitAsync({ messages: [{ role: "user", content: "an old plain task" }], configs: { model: FAST, max_tokens: 8 } });
    const plain = await eventually(async () => {
      const current = await flexTask(taskId);
      return current.status === "COMPLETED" ? current : undefined;
    }, { what: "the plain task to complete" });

    await age(taskIdOf(old.id), 25);
    await age(taskIdOf(cancelledOld.id), 24 * 40);
    await age(taskIdOf(young.id), 23);
    await age(taskIdOf(unfinished.id), 24 * 40);
    await age(taskId, 24 * 40);
    // The old response's events are still in Redis (their hour has not passed here): the sweep drops them.
    expect((await stack.api.deps.log.readAfter(taskIdOf(old.id), "0")).length).toBeGreaterThan(0);

    const round = await keeper.sweep();

    // Gone from every response route, as a deleted response is.
    expect(await sdkError(() => client.responses.retrieve(old.id))).toBeInstanceOf(OpenAI.NotFoundError);
    expect(await sdkError(() => client.responses.retrieve(old.id, { stream: true }))).toBeInstanceOf(OpenAI.NotFoundError);
    expect(await sdkError(() => client.responses.inputItems.list(old.id))).toBeInstanceOf(OpenAI.NotFoundError);
    expect(await sdkError(() => client.responses.cancel(old.id))).toBeInstanceOf(OpenAI.NotFoundError);
    expect(await sdkError(() => client.responses.delete(old.id))).toBeInstanceOf(OpenAI.NotFoundError);
    expect(await sdkError(() => client.responses.retrieve(cancelledOld.id))).toBeInstanceOf(OpenAI.NotFoundError);
    const chained = await sdkError(() => client.responses.create({ model: FAST, input: "more", previous_response_id: old.id }));
    expect([chained.status, chained.code, chained.param]).toEqual([400, "previous_response_not_found", "previous_response_id"]);
    expect(await stack.api.deps.log.readAfter(taskIdOf(old.id), "0")).toEqual([]);
    // The task stays in the history with its status and usage, without its content.
    const erased = await flexTask(taskIdOf(old.id));
    expect(erased).toMatchObject({ status: "COMPLETED", endpoint: "response", response: "" });
    expect(erased.usage.completion_tokens).toBe(oldDone.usage?.output_tokens);
    expect(erased.usage.completion_tokens).toBeGreaterThan(0);
    expect(JSON.stringify(erased)).not.toContain("an old secret");
    expect((await flexTask(taskIdOf(cancelledOld.id))).status).toBe("CANCELLED");

    // Untouched: the response inside its retention, the unfinished one, the plain task.
    const kept = await client.responses.retrieve(young.id);
    expect(kept.output_text).toBe(youngDone.output_text);
    expect(kept.output_text.length).toBeGreaterThan(0);
    expect((await client.responses.inputItems.list(young.id)).data).toHaveLength(1);
    expect((await client.responses.retrieve(unfinished.id)).status).toBe("queued");
    expect((await client.responses.inputItems.list(unfinished.id)).data).toHaveLength(1);
    expect((await flexTask(taskId)).response).toBe(plain.response);
    expect(plain.response.length).toBeGreaterThan(0);

    // Counted once; the next round finds nothing more.
    expect(round).toMatchObject({ erased: 2 });
    expect(await erasedCounter()).toBe(2);
    expect(await keeper.sweep()).toMatchObject({ erased: 0 });
    expect(await erasedCounter()).toBe(2);
  });

  it("keeps every response with RESPONSE_RETENTION_HOURS=0", async () => {
    const forever = await stack.startWorker({ RESPONSE_RETENTION_HOURS: "0" });
    const created = await client.responses.create({ model: FAST, input: "keep me", background: true });
    const done = await finished(created.id);
    await age(taskIdOf(created.id), 24 * 365 * 3);

    const kept = await forever.sweep();
    expect((await client.responses.retrieve(created.id)).output_text).toBe(done.output_text);
    // The same response is past a 24-hour retention.
    const past = await keeper.sweep();
    expect(await sdkError(() => client.responses.retrieve(created.id))).toBeInstanceOf(OpenAI.NotFoundError);
    expect([kept, past]).toMatchObject([{ erased: 0 }, { erased: 1 }]);
  });

  it("a worker process sweeping on its own erases them and logs one line for the round that erased some; a bad value stops it", async () => {
    const created = await client.responses.create({ model: FAST, input: "swept by the clock", background: true });
    await finished(created.id);
    await age(taskIdOf(created.id), 25);
    const env = { ...stack.env, WORKER_MODELS: FAST, LOG_LEVEL: "info", LOG_FORMAT: "json", SWEEP_INTERVAL_MS: "200", RESPONSE_RETENTION_HOURS: "24", TASK_RETENTION_DAYS: "0" };
    const worker = await spawnService("apps/worker/src/main.ts", env, /worker ready/);
    try {
      await eventually(async () => ((await sdkError(() => client.responses.retrieve(created.id))) instanceof OpenAI.NotFoundError ? true : undefined), {
        what: "the worker's own sweeper to erase the response",
      });
      // A few more rounds, which erase nothing and say nothing.
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      const lines = worker.output().split("\n").filter((line) => line.includes("past their retention")).map((line) => JSON.parse(line) as Record<string, unknown>);
      expect(lines).toEqual([expect.objectContaining({ level: 30, msg: "sweeper: erased 1 responses past their retention", erased: 1, retentionHours: 24 })]);
    } finally {
      await worker.stop();
    }

    const refused = await spawnService("apps/worker/src/main.ts", { ...env, RESPONSE_RETENTION_HOURS: "12" }, /worker ready/).then(
      async (started) => {
        await started.stop();
        return "started";
      },
      (error: Error) => error.message,
    );
    expect(refused).toMatch(/exited with 1 before it was ready/);
    expect(refused).toMatch(/RESPONSE_RETENTION_HOURS/);
  });
});
