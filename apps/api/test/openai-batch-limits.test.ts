// Bounds on OpenAI batches (issue 11, item 5): requests per file, bytes per line, creation rate, open
// batches per user and per file, and fair ingestion between tenants.
import { eventually, json } from "@llmq/testkit";
import { type TestStack, startTestStack } from "@llmq/stack";
import OpenAI, { toFile } from "openai";
import type { Batch } from "openai/resources/batches";
import { sdkError } from "./openai-sdk-support";

const FAST = "gemma-7b";
// Served by no worker: its batches stay in_progress (open) until cancelled, and ingest creates tasks that never run.
const IDLE = "idle-model";

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack({
    models: {
      providers: { fast: { type: "simulated", first_token_ms: 5, tokens_per_second: 2000 } },
      models: [
        { id: FAST, provider: "fast", concurrency: 8 },
        { id: IDLE, provider: "fast" },
      ],
    },
    env: { WORKER_MODELS: FAST, MAX_OPEN_BATCHES_PER_USER: "3", BATCH_INGEST_CONCURRENCY: "2", BODY_LIMIT: "64kb" },
  });
});
afterAll(async () => {
  await stack.close();
});

const FINAL = ["completed", "failed", "expired", "cancelled"];

function line(customId: string, model = IDLE, content = "hello") {
  return JSON.stringify({ custom_id: customId, method: "POST", url: "/v1/chat/completions", body: { model, messages: [{ role: "user", content }], max_tokens: 4 } });
}

/** A tenant: a new user with an unthrottled key (uploads, batches) and its OpenAI client. */
async function tenantKey(limits: Record<string, number> = {}, userId?: string) {
  const res = await stack.request("/v1/admin/keys", { method: "POST", json: { name: "batch-tenant", limits, ...(userId ? { user_id: userId } : {}) } });
  expect(res.status).toBe(201);
  const data = (await json(res)).data.data as { key: string; user_id: string };
  return { key: data.key, userId: data.user_id, client: new OpenAI({ baseURL: `${stack.url}/v1`, apiKey: data.key, maxRetries: 0 }) };
}

async function upload(client: OpenAI, lines: string[]) {
  return client.files.create({ file: await toFile(Buffer.from(`${lines.join("\n")}\n`), "input.jsonl"), purpose: "batch" });
}

const create = (client: OpenAI, fileId: string) => client.batches.create({ input_file_id: fileId, endpoint: "/v1/chat/completions", completion_window: "24h" });

async function until(client: OpenAI, batchId: string, done: (batch: Batch) => boolean, what: string): Promise<Batch> {
  return eventually(async () => {
    const batch = await client.batches.retrieve(batchId);
    return done(batch) ? batch : undefined;
  }, { timeoutMs: 60_000, what: `batch ${batchId} ${what}` });
}

async function cancelAll(client: OpenAI, batchIds: string[]) {
  for (const id of batchIds) await client.batches.cancel(id);
  for (const id of batchIds) await until(client, id, (b) => b.status === "cancelled", "cancelled");
}

const manyLines = (count: number, prefix: string) => Array.from({ length: count }, (_, i) => line(`${prefix}-${i}`));

describe("requests and bytes per batch", () => {
  it("refuses a file of more than 50,000 requests at creation (400 naming input_file_id), creating nothing", async () => {
    const { client } = await tenantKey();
    const file = await upload(client, manyLines(50_001, "over"));
    const before = await stack.api.deps.db.batch.count();
    const error = await sdkError(() => create(client, file.id));
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect([error.status, error.code, error.param]).toEqual([400, "too_many_requests", "input_file_id"]);
    expect(error.message).toContain("50000");
    expect(await stack.api.deps.db.batch.count()).toBe(before);
  });

  it("stops the ingest at request 50,001 when the file's line count was not recorded, failing the batch with too_many_requests", async () => {
    const { client } = await tenantKey();
    const file = await upload(client, manyLines(50_001, "unknown"));
    // As for a file stored before line counts were recorded.
    await stack.api.deps.db.file.update({ where: { id: file.id }, data: { lines: 0 } });
    const batch = await until(client, (await create(client, file.id)).id, (b) => FINAL.includes(b.status), "final");
    expect(batch.status).toBe("failed");
    expect(batch.errors?.data?.map((e) => [e.code, e.line])).toEqual([["too_many_requests", 50_001]]);
    expect(await stack.api.deps.db.task.count({ where: { batchId: batch.id } })).toBe(0);
  });

  it("fails a batch whose line is longer than BODY_LIMIT with line_too_long, naming the line", async () => {
    const { client } = await tenantKey();
    // 100 KB of content: a valid request, but larger than this stack's BODY_LIMIT (64kb).
    const file = await upload(client, [line("fine"), line("huge", IDLE, "x".repeat(100_000)), line("after")]);
    const batch = await until(client, (await create(client, file.id)).id, (b) => FINAL.includes(b.status), "final");
    expect(batch.status).toBe("failed");
    expect(batch.errors?.data?.map((e) => [e.code, e.line])).toEqual([["line_too_long", 2]]);
    expect(batch.errors?.data?.[0]?.message).toContain("65536");
    expect(await stack.api.deps.db.task.count({ where: { batchId: batch.id } })).toBe(0);
  });
});

describe("creating batches", () => {
  it("rate-limits POST /v1/batches like task submissions (the key's rate_limit_per_minute)", async () => {
    const leftInMinute = 60_000 - (Date.now() % 60_000);
    if (leftInMinute < 8_000) await new Promise((resolve) => setTimeout(resolve, leftInMinute + 100));
    const uploader = await tenantKey();
    const limited = await tenantKey({ rate_limit_per_minute: 2 }, uploader.userId);
    const files: { id: string }[] = [];
    for (let i = 0; i < 3; i++) files.push(await upload(uploader.client, [line(`r${i}`)]));
    const first = await create(limited.client, files[0]!.id);
    const second = await create(limited.client, files[1]!.id);
    const error = await sdkError(() => create(limited.client, files[2]!.id));
    expect(error).toBeInstanceOf(OpenAI.RateLimitError);
    expect(error.code).toBe("rate_limit_exceeded");
    await cancelAll(uploader.client, [first.id, second.id]);
  });

  it("caps open batches per user at MAX_OPEN_BATCHES_PER_USER, native batches included, until one ends", async () => {
    const { key, client } = await tenantKey();
    const files: { id: string }[] = [];
    for (let i = 0; i < 4; i++) files.push(await upload(client, [line(`o${i}`)]));
    const open: string[] = [];
    for (let i = 0; i < 3; i++) open.push((await create(client, files[i]!.id)).id);
    const error = await sdkError(() => create(client, files[3]!.id));
    expect(error).toBeInstanceOf(OpenAI.RateLimitError);
    expect(error.code).toBe("too_many_open_batches");
    expect(Number(error.headers?.get("retry-after"))).toBeGreaterThan(0);
    const native = await stack.request("/v1/ai/batches", { method: "POST", json: { requests: [{ messages: [{ role: "user", content: "x" }], configs: { model: IDLE } }] }, key });
    expect(native.status).toBe(429);
    expect((await json(native)).errors[0].code).toBe("too_many_open_batches");
    // The admin key is not held to it.
    expect((await stack.request("/v1/ai/batches", { method: "POST", json: { requests: [{ messages: [{ role: "user", content: "x" }], configs: { model: FAST } }] } })).status).toBe(200);

    await cancelAll(client, [open.shift()!]);
    open.push((await create(client, files[3]!.id)).id);
    await cancelAll(client, open);
  });

  it("runs one open batch per input file: another batch on it is 409 until the first has ended", async () => {
    const { client } = await tenantKey();
    const file = await upload(client, [line("once")]);
    const first = await create(client, file.id);
    const error = await sdkError(() => create(client, file.id));
    expect(error).toBeInstanceOf(OpenAI.ConflictError);
    expect([error.status, error.code, error.param]).toEqual([409, "file_in_use", "input_file_id"]);
    expect(error.message).toContain(first.id);
    await cancelAll(client, [first.id]);
    const again = await create(client, file.id);
    await cancelAll(client, [again.id]);
  });
});

describe("ingestion", () => {
  it("is fair between tenants: A's two batches over large files do not keep B's one-line batch validating", async () => {
    const a = await tenantKey();
    const b = await tenantKey();
    const bigA = await upload(a.client, manyLines(50_000, "a1"));
    const bigB = await upload(a.client, manyLines(50_000, "a2"));
    const small = await upload(b.client, [line("b")]);
    const a1 = await create(a.client, bigA.id);
    const a2 = await create(a.client, bigB.id);
    const started = Date.now();
    const bs = await create(b.client, small.id);
    await until(b.client, bs.id, (batch) => batch.status === "in_progress", "in_progress");
    const waitedMs = Date.now() - started;
    // Both of A's batches are still being read: B did not queue behind them.
    const statuses = [(await a.client.batches.retrieve(a1.id)).status, (await a.client.batches.retrieve(a2.id)).status];
    expect({ statuses, waitedMs }).toEqual({ statuses: ["validating", "validating"], waitedMs });
    await cancelAll(b.client, [bs.id]);
    await cancelAll(a.client, [a1.id, a2.id]);
  });
});
