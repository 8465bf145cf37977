import { eventually, json } from "@llmq/testkit";
import { type TestStack, startTestStack } from "@llmq/stack";
import OpenAI, { toFile } from "openai";
import type { Batch } from "openai/resources/batches";

// gemma answers at once; llama is paced (40 tokens/s, one at a time), so its batches are still
// running when a test cancels them, expires them, or calls the model interactively.
const MODELS = {
  providers: {
    fast: { type: "simulated", first_token_ms: 5, tokens_per_second: 2000 },
    slow: { type: "simulated", first_token_ms: 5, tokens_per_second: 40 },
  },
  models: [
    { id: "gemma-7b", provider: "fast", concurrency: 8 },
    { id: "llama-3.1-8b-instruct", provider: "slow", concurrency: 1 },
  ],
};

let stack: TestStack;
let client: OpenAI;
beforeAll(async () => {
  stack = await startTestStack({ models: MODELS, env: { SWEEP_INTERVAL_MS: "200", SWEEP_AFTER_MS: "200" } });
  client = new OpenAI({ baseURL: `${stack.url}/v1`, apiKey: stack.adminKey, maxRetries: 0 });
});
afterAll(async () => {
  await stack.close();
});

function line(customId: string, model: string, content: string, maxTokens = 8) {
  return JSON.stringify({ custom_id: customId, method: "POST", url: "/v1/chat/completions", body: { model, messages: [{ role: "user", content }], max_tokens: maxTokens } });
}

async function upload(lines: string[]) {
  return client.files.create({ file: await toFile(Buffer.from(`${lines.join("\n")}\n`), "input.jsonl"), purpose: "batch" });
}

async function until(batchId: string, done: (batch: Batch) => boolean, what: string): Promise<Batch> {
  return eventually(async () => {
    const batch = await client.batches.retrieve(batchId);
    return done(batch) ? batch : undefined;
  }, { timeoutMs: 30_000, what: `batch ${batchId} ${what}` });
}

const FINAL = ["completed", "failed", "expired", "cancelled"];

async function jsonlOf(fileId: string): Promise<Record<string, any>[]> {
  const text = await (await client.files.content(fileId)).text();
  return text.trim() === "" ? [] : text.trim().split("\n").map((l) => JSON.parse(l));
}

describe("OpenAI Batch API through the openai SDK", () => {
  it("runs a file of requests and returns one output line per custom_id", async () => {
    const count = 60;
    const file = await upload(Array.from({ length: count }, (_, i) => line(`req-${i}`, "gemma-7b", `Question number ${i}`)));
    const created = await client.batches.create({ input_file_id: file.id, endpoint: "/v1/chat/completions", completion_window: "24h", metadata: { job: "nightly" } });
    expect(created).toMatchObject({ object: "batch", status: "validating", input_file_id: file.id, completion_window: "24h", metadata: { job: "nightly" } });
    const batch = await until(created.id, (b) => FINAL.includes(b.status), "final");
    expect(batch.status).toBe("completed");
    expect(batch.request_counts).toEqual({ total: count, completed: count, failed: 0 });
    for (const stamp of ["in_progress_at", "finalizing_at", "completed_at"] as const) expect(batch[stamp]).toEqual(expect.any(Number));
    expect(batch.error_file_id).toBeNull();

    const output = await jsonlOf(batch.output_file_id!);
    expect(output.map((o) => o.custom_id)).toEqual(Array.from({ length: count }, (_, i) => `req-${i}`));
    const first = output[0]!;
    expect(first.id).toMatch(/^batch_req_[0-9a-f]{32}$/);
    expect(first.error).toBeNull();
    expect(first.response.status_code).toBe(200);
    expect(first.response.body).toMatchObject({ object: "chat.completion", model: "gemma-7b", choices: [{ index: 0, message: { role: "assistant" } }] });
    expect(first.response.body.choices[0].message.content.length).toBeGreaterThan(0);
    // The output file is a file like any other; it goes with the batch's tasks, TASK_RETENTION_DAYS (default 30) after the batch ended.
    expect(await client.files.retrieve(batch.output_file_id!)).toMatchObject({
      id: batch.output_file_id,
      purpose: "batch_output",
      created_at: batch.completed_at,
      expires_at: batch.completed_at! + 30 * 86_400,
    });

    // Its items are tasks: in history, filtered to this batch's first task.
    const taskId = first.response.request_id;
    const task = await json(await stack.request(`/v1/ai/tasks/${taskId}`));
    expect(task.data.data).toMatchObject({ status: "COMPLETED", response: first.response.body.choices[0].message.content });
  });

  it("fails a file with invalid lines, naming each line, and creates no task", async () => {
    const before = await stack.api.deps.db.task.count();
    const file = await upload([
      line("ok-1", "gemma-7b", "fine"),
      "{not json",
      line("ok-1", "gemma-7b", "duplicate id"),
      line("bad-model", "no-such-model", "x"),
      JSON.stringify({ custom_id: "wrong-url", method: "POST", url: "/v1/completions", body: { model: "gemma-7b", prompt: "x" } }),
      JSON.stringify({ custom_id: "bad-temp", method: "POST", url: "/v1/chat/completions", body: { model: "gemma-7b", messages: [{ role: "user", content: "x" }], temperature: 9 } }),
    ]);
    const created = await client.batches.create({ input_file_id: file.id, endpoint: "/v1/chat/completions", completion_window: "24h" });
    const batch = await until(created.id, (b) => FINAL.includes(b.status), "final");
    expect(batch.status).toBe("failed");
    expect(batch.failed_at).toEqual(expect.any(Number));
    expect(batch.errors?.data?.map((e) => [e.line, e.code])).toEqual([
      [2, "invalid_json"],
      [3, "duplicate_custom_id"],
      [4, "model_not_found"],
      [5, "mismatched_url"],
      [6, "invalid_request"],
    ]);
    expect(batch.errors?.data?.[4]?.param).toBe("body.temperature");
    expect(batch.output_file_id).toBeNull();
    expect(await stack.api.deps.db.task.count()).toBe(before);
  });

  it("refuses a batch on a file it cannot use", async () => {
    await expect(client.batches.create({ input_file_id: "file-0123456789abcdef0123456789abcdef", endpoint: "/v1/chat/completions", completion_window: "24h" })).rejects.toMatchObject({ status: 404, code: "file_not_found" });
    const file = await upload([line("a", "gemma-7b", "x")]);
    await expect(client.batches.create({ input_file_id: file.id, endpoint: "/v1/embeddings" as never, completion_window: "24h" })).rejects.toMatchObject({ status: 400, param: "endpoint" });
  });

  it("cancels mid-batch: queued items never run, finished ones are kept", async () => {
    const file = await upload(Array.from({ length: 12 }, (_, i) => line(`c-${i}`, "llama-3.1-8b-instruct", `Slow question ${i}`, 10)));
    const created = await client.batches.create({ input_file_id: file.id, endpoint: "/v1/chat/completions", completion_window: "24h" });
    await until(created.id, (b) => b.status === "in_progress" && (b.request_counts?.completed ?? 0) >= 1, "with a finished item");
    const cancelling = await client.batches.cancel(created.id);
    expect(["cancelling", "cancelled"]).toContain(cancelling.status);
    const batch = await until(created.id, (b) => b.status === "cancelled", "cancelled");
    const completed = batch.request_counts!.completed;
    expect(completed).toBeGreaterThanOrEqual(1);
    expect(completed).toBeLessThan(12);
    expect(completed + batch.request_counts!.failed).toBe(12);
    const output = await jsonlOf(batch.output_file_id!);
    const errors = await jsonlOf(batch.error_file_id!);
    expect(output).toHaveLength(completed);
    expect([...output, ...errors].map((o) => o.custom_id).sort()).toEqual(Array.from({ length: 12 }, (_, i) => `c-${i}`).sort());
    expect(errors.some((e) => e.error?.code === "batch_cancelled")).toBe(true);
    // Both go with the batch's tasks, TASK_RETENTION_DAYS after it ended (its cancel).
    for (const fileId of [batch.output_file_id!, batch.error_file_id!]) expect((await client.files.retrieve(fileId)).expires_at).toBe(batch.cancelled_at! + 30 * 86_400);
    // Nothing of it still runs or waits.
    const open = await stack.api.deps.db.task.count({ where: { batchId: created.id, status: { in: ["PENDING", "RUNNING"] } } });
    expect(open).toBe(0);
  });

  it("expires: finished results are kept, the rest reported as expired", async () => {
    const file = await upload(Array.from({ length: 40 }, (_, i) => line(`e-${i}`, "llama-3.1-8b-instruct", `Expiring question ${i}`, 10)));
    const created = await client.batches.create({ input_file_id: file.id, endpoint: "/v1/chat/completions", completion_window: "2s" as "24h" }); // ours: windows shorter than OpenAI's only value
    const batch = await until(created.id, (b) => FINAL.includes(b.status), "final");
    expect(batch.status).toBe("expired");
    expect(batch.expired_at).toEqual(expect.any(Number));
    const { completed, failed, total } = batch.request_counts!;
    expect(total).toBe(40);
    expect(completed).toBeGreaterThanOrEqual(1);
    expect(completed + failed).toBe(40);
    const errors = await jsonlOf(batch.error_file_id!);
    expect(errors.filter((e) => e.error?.code === "batch_expired").length).toBeGreaterThan(0);
    expect(await jsonlOf(batch.output_file_id!)).toHaveLength(completed);
    expect((await client.files.retrieve(batch.error_file_id!)).expires_at).toBe(batch.expired_at! + 30 * 86_400);
  });

  it("runs an interactive call before queued batch items on the same model", async () => {
    const file = await upload(Array.from({ length: 30 }, (_, i) => line(`p-${i}`, "llama-3.1-8b-instruct", `Background ${i}`, 6)));
    const created = await client.batches.create({ input_file_id: file.id, endpoint: "/v1/chat/completions", completion_window: "24h" });
    await until(created.id, (b) => b.status === "in_progress" && (b.request_counts?.completed ?? 0) >= 1, "started");
    const taskId = await stack.submitAsync({ messages: [{ role: "user", content: "Me first" }], configs: { model: "llama-3.1-8b-instruct", max_tokens: 6 } });
    const submittedAt = new Date();
    const done = await eventually(async () => {
      const task = await stack.api.deps.tasks.findById(taskId);
      return task?.status === "COMPLETED" ? task : undefined;
    }, { timeoutMs: 20_000, what: "interactive task" });
    // With one slot, only the batch item already running may start before the interactive call.
    const startedBefore = await stack.api.deps.db.task.count({
      where: { batchId: created.id, startedAt: { gte: submittedAt, lt: done.startedAt! } },
    });
    expect(startedBefore).toBe(0);
    await client.batches.cancel(created.id);
  });
});

describe("a batch's files with TASK_RETENTION_DAYS=0 (tasks kept for good)", () => {
  let keeping: TestStack;
  afterAll(async () => {
    await keeping?.close();
  });

  it("answer expires_at null: nothing deletes them", async () => {
    keeping = await startTestStack({ models: MODELS, env: { TASK_RETENTION_DAYS: "0" } });
    const sdk = new OpenAI({ baseURL: `${keeping.url}/v1`, apiKey: keeping.adminKey, maxRetries: 0 });
    const file = await sdk.files.create({ file: await toFile(Buffer.from(`${line("k-1", "gemma-7b", "kept")}\n`), "input.jsonl"), purpose: "batch" });
    const created = await sdk.batches.create({ input_file_id: file.id, endpoint: "/v1/chat/completions", completion_window: "24h" });
    const batch = await eventually(async () => {
      const now = await sdk.batches.retrieve(created.id);
      return FINAL.includes(now.status) ? now : undefined;
    }, { timeoutMs: 30_000, what: "the batch to end" });
    expect(batch.status).toBe("completed");
    expect(await sdk.files.retrieve(batch.output_file_id!)).toMatchObject({ id: batch.output_file_id, purpose: "batch_output", expires_at: null });
  });
});
