import zlib from "node:zlib";
import { eventually, json, readSse } from "@llmq/testkit";
import { type TestStack, startTestStack } from "@llmq/stack";
import OpenAI, { toFile } from "openai";

// gemma answers at once; llama is paced (40 tokens/s, one at a time), so its batches are still running
// when a test reads partial results or cancels them.
const FAST = "gemma-7b";
const SLOW = "llama-3.1-8b-instruct";
const MODELS = {
  providers: {
    fast: { type: "simulated", first_token_ms: 5, tokens_per_second: 2000 },
    slow: { type: "simulated", first_token_ms: 5, tokens_per_second: 40 },
  },
  models: [
    { id: FAST, provider: "fast", concurrency: 8 },
    { id: SLOW, provider: "slow", concurrency: 1 },
  ],
};

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack({ models: MODELS, env: { SWEEP_INTERVAL_MS: "200", SWEEP_AFTER_MS: "200" } });
});
afterAll(async () => {
  await stack.close();
});

interface ResultLine {
  custom_id: string;
  task_id: string;
  status: string;
  response: string | null;
  finish_reason: string | null;
  usage: { prompt_tokens: number | null; completion_tokens: number; total_tokens: number | null };
  error: { code: string; message: string } | null;
}

function item(content: string, model = FAST, maxTokens = 8, customId?: string) {
  return { ...(customId === undefined ? {} : { custom_id: customId }), messages: [{ role: "user", content }], configs: { model, max_tokens: maxTokens } };
}

async function newTenantKey(name: string): Promise<string> {
  const res = await stack.request("/v1/admin/keys", { method: "POST", json: { name } });
  expect(res.status).toBe(201);
  return (await json(res)).data.data.key;
}

async function createBatch(body: unknown, key?: string) {
  const res = await stack.request("/v1/ai/batches", { method: "POST", json: body, key });
  const envelope = await json(res);
  if (res.status !== 200) throw new Error(`create answered ${res.status}: ${JSON.stringify(envelope)}`);
  expect(envelope.status).toBe("success");
  return envelope.data.data as { batch_id: string; status: string; total: number; task_ids: string[] };
}

async function getBatch(batchId: string, key?: string) {
  const res = await stack.request(`/v1/ai/batches/${batchId}`, { key });
  expect(res.status).toBe(200);
  return (await json(res)).data.data;
}

async function until(batchId: string, done: (batch: any) => boolean, what: string) {
  return eventually(async () => {
    const batch = await getBatch(batchId);
    return done(batch) ? batch : undefined;
  }, { timeoutMs: 30_000, what: `batch ${batchId} ${what}` });
}

async function results(batchId: string, key?: string): Promise<ResultLine[]> {
  const res = await stack.request(`/v1/ai/batches/${batchId}/results`, { key });
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toMatch(/^application\/x-ndjson/);
  const text = await res.text();
  return text === "" ? [] : text.trimEnd().split("\n").map((line) => JSON.parse(line) as ResultLine);
}

async function rowCounts() {
  return { tasks: await stack.api.deps.db.task.count(), batches: await stack.api.deps.db.batch.count() };
}

describe("native batches: /v1/ai/batches", () => {
  it("runs 200 requests to completion; results come in input order and match the tasks", async () => {
    const count = 200;
    const created = await createBatch({ requests: Array.from({ length: count }, (_, i) => item(`Question number ${i}`, FAST, 8, `q-${i}`)) });
    expect(created.batch_id).toMatch(/^batch_[0-9a-f]{32}$/);
    expect(created.total).toBe(count);
    expect(created.task_ids).toHaveLength(count);
    expect(new Set(created.task_ids).size).toBe(count);

    const batch = await until(created.batch_id, (b) => b.status === "completed", "completed");
    expect(batch.counts).toEqual({ PENDING: 0, RUNNING: 0, COMPLETED: count, FAILED: 0, CANCELLED: 0, EXPIRED: 0 });
    expect(batch).toMatchObject({ batch_id: created.batch_id, kind: "native", total: count, percent: 100, completion_window: "24h" });
    for (const stamp of ["created_at", "in_progress_at", "expires_at", "completed_at"]) expect(batch[stamp]).toEqual(expect.any(String));
    expect(batch.cancelled_at).toBeNull();

    const lines = await results(created.batch_id);
    expect(lines.map((line) => line.custom_id)).toEqual(Array.from({ length: count }, (_, i) => `q-${i}`));
    expect(lines.map((line) => line.task_id)).toEqual(created.task_ids);
    expect(lines.every((line) => line.status === "COMPLETED" && line.error === null && line.usage.completion_tokens > 0)).toBe(true);

    // Every item is a task like any other: the same text through the task API and in history.
    const history = await json(await stack.request(`/v1/ai/tasks?batch_id=${created.batch_id}&limit=200`));
    const listed = history.data.data.tasks as { task_id: string; response: string; batch_id: string; custom_id: string }[];
    expect(listed).toHaveLength(count);
    expect(history.data.data.has_more).toBe(false);
    const byId = new Map(listed.map((task) => [task.task_id, task]));
    for (const line of lines) {
      expect(byId.get(line.task_id)).toMatchObject({ batch_id: created.batch_id, custom_id: line.custom_id, response: line.response });
    }
    for (const line of [lines[0]!, lines[count - 1]!]) {
      const task = await json(await stack.request(`/v1/ai/tasks/${line.task_id}`));
      expect(task.data.data).toMatchObject({ status: "COMPLETED", response: line.response, finish_reason: line.finish_reason, batch_id: created.batch_id, custom_id: line.custom_id });
    }
  });

  it("serves partial results while the batch runs, and cancels the rest", async () => {
    const total = 12;
    const created = await createBatch({ requests: Array.from({ length: total }, (_, i) => item(`Slow question ${i}`, SLOW, 10)), priority: 50 });
    const running = await until(created.batch_id, (b) => b.status === "in_progress" && b.counts.COMPLETED >= 1, "with a finished item");
    expect(running.percent).toBeLessThan(100);

    const partial = await results(created.batch_id);
    // Tasks only finish, never reopen: still open after the read means they were open during it.
    const after = await getBatch(created.batch_id);
    expect(after.counts.PENDING + after.counts.RUNNING).toBeGreaterThan(0);
    expect(partial.length).toBeGreaterThanOrEqual(1);
    expect(partial.length).toBeLessThan(total);
    expect(partial.every((line) => line.status === "COMPLETED" && typeof line.response === "string")).toBe(true);
    // Custom ids default to the index; lines keep the input order.
    const indexes = partial.map((line) => Number(line.custom_id));
    expect([...indexes].sort((a, b) => a - b)).toEqual(indexes);
    expect(partial.map((line) => line.task_id)).toEqual(indexes.map((i) => created.task_ids[i]));

    const cancelRes = await stack.request(`/v1/ai/batches/${created.batch_id}/cancel`, { method: "POST" });
    expect(cancelRes.status).toBe(200);
    expect(["cancelling", "cancelled"]).toContain((await json(cancelRes)).data.data.status);
    const cancelled = await until(created.batch_id, (b) => b.status === "cancelled", "cancelled");
    expect(cancelled.cancelled_at).toEqual(expect.any(String));
    expect(cancelled.percent).toBe(100);
    expect(cancelled.counts.PENDING + cancelled.counts.RUNNING + cancelled.counts.FAILED + cancelled.counts.EXPIRED).toBe(0);
    expect(cancelled.counts.COMPLETED).toBeGreaterThanOrEqual(partial.length);
    expect(cancelled.counts.CANCELLED).toBeGreaterThanOrEqual(1);
    expect(cancelled.counts.COMPLETED + cancelled.counts.CANCELLED).toBe(total);

    const final = await results(created.batch_id);
    expect(final.map((line) => line.custom_id)).toEqual(Array.from({ length: total }, (_, i) => String(i)));
    const stopped = final.filter((line) => line.status === "CANCELLED");
    expect(stopped).toHaveLength(cancelled.counts.CANCELLED);
    expect(stopped.every((line) => line.response === null && line.error?.code === "cancelled")).toBe(true);

    // A queued item's event stream ends too: a subscriber is not left waiting on a task that will never run.
    // (The last item: with 4 running at a time it never started.) It opens with PENDING, as a single task's does
    // (its stream holds only its end: the relay shows PENDING first).
    const res = await stack.request(`/v1/ai/tasks/${stopped[stopped.length - 1]!.task_id}/events`, { signal: AbortSignal.timeout(10_000) });
    const events = await readSse(res);
    expect(events.filter((event) => event.event === "status").map((event) => JSON.parse(event.data).status)).toEqual(["PENDING", "CANCELLED"]);
    expect(events[events.length - 1]).toMatchObject({ event: "result" });
    expect(JSON.parse(events[events.length - 1]!.data).data.data.status).toBe("CANCELLED");
  });

  it("shows a waiting item's follower PENDING at once, with no event stream in Redis, then the item's run", async () => {
    // Paced items, one at a time: the last waits about three seconds behind the others.
    const created = await createBatch({ requests: [0, 1, 2, 3].map((i) => item(`paced ${i}`, SLOW, 40)) });
    const last = created.task_ids[3]!;
    const streamKey = stack.api.deps.keys.taskEvents(last);
    expect(await stack.api.deps.redis.exists(streamKey)).toBe(0);
    // The first event as soon as it comes (the stream is then let go).
    const [first] = await readSse(await stack.request(`/v1/ai/tasks/${last}/events`), { until: () => true });
    expect(first).toMatchObject({ event: "status", id: "0-1" });
    expect(JSON.parse(first!.data)).toEqual({ task_id: last, status: "PENDING", attempt: 0 });
    // Still waiting: the PENDING came from the row, not from a stream.
    expect(await stack.api.deps.redis.exists(streamKey)).toBe(0);
    expect((await json(await stack.request(`/v1/ai/tasks/${last}`))).data.data.status).toBe("PENDING");

    // Followed again from the start: PENDING, then the run as the stream has it, then the result.
    const events = await readSse(await stack.request(`/v1/ai/tasks/${last}/events`, { signal: AbortSignal.timeout(20_000) }));
    const statuses = events.filter((event) => event.event === "status");
    expect(statuses.map((event) => JSON.parse(event.data).status)).toEqual(["PENDING", "RUNNING", "COMPLETED"]);
    expect(statuses[0]!.id).toBe("0-1");
    expect(events.filter((event) => event.event === "token").length).toBeGreaterThan(0);
    expect(JSON.parse(events[events.length - 1]!.data).data.data).toMatchObject({ task_id: last, status: "COMPLETED" });
    // Resumed after the shown PENDING: the whole stream, without PENDING again.
    const resumed = await readSse(await stack.request(`/v1/ai/tasks/${last}/events`, { headers: { "Last-Event-ID": "0-1" } }));
    expect(resumed.map((event) => event.id)).toEqual(events.slice(1).map((event) => event.id));
    expect(resumed.filter((event) => event.event === "status").map((event) => JSON.parse(event.data).status)).toEqual(["RUNNING", "COMPLETED"]);
  });

  it("refuses a batch with an invalid item, naming it, and writes nothing", async () => {
    const before = await rowCounts();
    const refuse = async (body: unknown, param: string, status = 400) => {
      const res = await stack.request("/v1/ai/batches", { method: "POST", json: body });
      const envelope = await json(res);
      expect([res.status, envelope.status, envelope.errors[0].param]).toEqual([status, "error", param]);
      return envelope;
    };
    await refuse({ requests: [item("fine"), { ...item("hot"), configs: { model: FAST, temperature: 9 } }] }, "requests.1.configs.temperature");
    await refuse({ requests: [item("fine"), { configs: { model: FAST } }] }, "requests.1.messages");
    await refuse({ requests: [item("fine"), item("fine"), item("who?", "no-such-model")] }, "requests.2.configs.model");
    await refuse({ requests: [item("too long", FAST, 1_000_000)] }, "requests.0.configs.max_tokens");
    await refuse({ requests: [item("a", FAST, 8, "same"), item("b", FAST, 8, "same")] }, "requests.1.custom_id");
    // A default id (the index) collides with an explicit one too.
    await refuse({ requests: [item("a", FAST, 8, "1"), item("b")] }, "requests.1.custom_id");
    await refuse({ requests: [] }, "requests");
    await refuse({ requests: [item("x")], priority: 0 }, "priority");
    await refuse({ requests: [item("x")], completion_window: "2w" }, "completion_window");
    await refuse({ requests: [item("x")], surprise: true }, "surprise");
    // Webhooks are the batch's, not each item's; and a private target is refused.
    await refuse({ requests: [{ ...item("x"), webhook: "https://example.com/hook" }] }, "requests.0.webhook");
    await refuse({ requests: [item("x")], webhook: { url: "http://10.0.0.1/hook" } }, "webhook.url");
    expect(await rowCounts()).toEqual(before);
  });

  it("takes bodies larger than the ordinary limit", async () => {
    // 12 requests of 100 KB: about 1.2 MB, past BODY_LIMIT (1mb) but within BATCH_BODY_LIMIT (64mb).
    const filler = "x".repeat(100_000);
    const created = await createBatch({ requests: Array.from({ length: 12 }, (_, i) => item(`${i} ${filler}`, FAST, 1)), completion_window: "1h" });
    expect(created.total).toBe(12);
    const batch = await getBatch(created.batch_id);
    expect(batch.completion_window).toBe("1h");
    // expires_at is set by the API, created_at by Postgres: the same hour, give or take their clocks' millisecond.
    expect(Math.round((new Date(batch.expires_at).getTime() - new Date(batch.created_at).getTime()) / 60_000)).toBe(60);
    await until(created.batch_id, (b) => b.status === "completed", "completed");
  });

  it("takes a body in every Content-Encoding it accepts, decoded off the event loop: the same request under each (one Idempotency-Key replays), sent in chunks too", async () => {
    const body = Buffer.from(JSON.stringify({ requests: [item("one"), item("two"), item("three")] }));
    const key = `enc-${Date.now()}`;
    const send = (bytes: Buffer | ReadableStream<Uint8Array>, encoding: string) =>
      stack.request("/v1/ai/batches", { method: "POST", body: bytes, headers: { "content-type": "application/json", "content-encoding": encoding, "idempotency-key": key }, ...({ duplex: "half" } as object) });
    const first = await send(zlib.gzipSync(body), "gzip");
    expect(first.status).toBe(200);
    const created = (await json(first)).data.data;
    expect(created.total).toBe(3);
    // The digest Idempotency-Key compares is the decoded body's: any encoding of it is the same request.
    const encoders: Record<string, (b: Buffer) => Buffer> = { deflate: zlib.deflateSync, br: zlib.brotliCompressSync, zstd: (zlib as unknown as { zstdCompressSync: (b: Buffer) => Buffer }).zstdCompressSync, identity: (b) => b };
    for (const [encoding, encode] of Object.entries(encoders)) {
      const res = await send(encode(body), encoding);
      expect([encoding, res.status, res.headers.get("idempotent-replayed")]).toEqual([encoding, 200, "true"]);
      expect((await json(res)).data.data.batch_id).toBe(created.batch_id);
    }
    // Without a Content-Length (chunked), compressed or not.
    const chunked = (bytes: Buffer) => new ReadableStream<Uint8Array>({ start(controller) { for (let at = 0; at < bytes.length; at += 7) controller.enqueue(bytes.subarray(at, at + 7)); controller.close(); } });
    for (const [encoding, bytes] of [["gzip", zlib.gzipSync(body)], ["identity", body]] as const) {
      const res = await send(chunked(bytes), encoding);
      expect([encoding, res.status]).toEqual([encoding, 200]);
      expect((await json(res)).data.data.batch_id).toBe(created.batch_id);
    }
    // A body that does not decode is the caller's fault under every encoding, zstd included.
    for (const encoding of ["gzip", "deflate", "br", "zstd"]) {
      const res = await stack.request("/v1/ai/batches", { method: "POST", body: '{"requests":[]}', headers: { "content-type": "application/json", "content-encoding": encoding } });
      const envelope = await json(res);
      expect([encoding, res.status, envelope.errors[0].code, envelope.errors[0].param]).toEqual([encoding, 400, "invalid_content_encoding", "body"]);
    }
    const unknown = await stack.request("/v1/ai/batches", { method: "POST", body: '{"requests":[]}', headers: { "content-type": "application/json", "content-encoding": "compress" } });
    const refusal = (await json(unknown)).errors[0];
    expect([unknown.status, refusal.code]).toEqual([400, "unsupported_content_encoding"]);
    // It names every encoding the route takes, zstd included.
    expect(refusal.message).toBe("Unsupported Content-Encoding: send gzip, deflate, br, zstd or none.");
  });

  it("keeps batches to their owner: 404 for anyone else, lists and history per tenant", async () => {
    const alice = await newTenantKey("batch-alice");
    const bob = await newTenantKey("batch-bob");
    const first = await createBatch({ requests: [item("alice one")] }, alice);
    const second = await createBatch({ requests: [item("alice two"), item("alice three")] }, alice);
    await until(second.batch_id, (b) => b.status === "completed", "completed");

    for (const [method, path] of [
      ["GET", `/v1/ai/batches/${first.batch_id}`],
      ["GET", `/v1/ai/batches/${first.batch_id}/results`],
      ["POST", `/v1/ai/batches/${first.batch_id}/cancel`],
    ] as const) {
      const res = await stack.request(path, { method, key: bob });
      expect([method, path, res.status]).toEqual([method, path, 404]);
      expect((await json(res)).errors[0].code).toBe("batch_not_found");
    }
    const bobsHistory = await json(await stack.request(`/v1/ai/tasks?batch_id=${first.batch_id}`, { key: bob }));
    expect(bobsHistory.data.data.tasks).toEqual([]);
    const bobsList = await json(await stack.request("/v1/ai/batches", { key: bob }));
    expect(bobsList.data.data).toEqual({ batches: [], last_id: null, has_more: false });

    // Alice's list: newest first, paged with `after`.
    const page1 = (await json(await stack.request("/v1/ai/batches?limit=1", { key: alice }))).data.data;
    expect(page1.batches.map((b: { batch_id: string }) => b.batch_id)).toEqual([second.batch_id]);
    expect(page1.has_more).toBe(true);
    expect(page1.batches[0]).toMatchObject({ total: 2, counts: { COMPLETED: 2 }, percent: 100 });
    const page2 = (await json(await stack.request(`/v1/ai/batches?limit=1&after=${page1.last_id}`, { key: alice }))).data.data;
    expect(page2.batches.map((b: { batch_id: string }) => b.batch_id)).toEqual([first.batch_id]);
    expect(page2.has_more).toBe(false);
    const history = await json(await stack.request(`/v1/ai/tasks?batch_id=${second.batch_id}`, { key: alice }));
    expect(history.data.data.tasks.map((t: { task_id: string }) => t.task_id).sort()).toEqual([...second.task_ids].sort());

    const unknown = await stack.request("/v1/ai/batches/batch_00000000000000000000000000000000");
    expect([unknown.status, (await json(unknown)).errors[0].code]).toEqual([404, "batch_not_found"]);
  });

  it("lists the caller's OpenAI Batch API batches too, each with its dialect, paged across both kinds", async () => {
    const carol = await newTenantKey("batch-carol");
    const dave = await newTenantKey("batch-dave");
    const openaiOf = (key: string) => new OpenAI({ baseURL: `${stack.url}/v1`, apiKey: key, maxRetries: 0 });
    const openaiBatch = async (key: string, content: string) => {
      const client = openaiOf(key);
      const body = { model: FAST, messages: [{ role: "user", content }], max_tokens: 8 };
      const input = `${JSON.stringify({ custom_id: "a", method: "POST", url: "/v1/chat/completions", body })}\n`;
      const file = await client.files.create({ file: await toFile(Buffer.from(input), "input.jsonl"), purpose: "batch" });
      return client.batches.create({ input_file_id: file.id, endpoint: "/v1/chat/completions", completion_window: "24h" });
    };
    const oldest = await openaiBatch(carol, "carol openai one");
    const native = await createBatch({ requests: [item("carol native")] }, carol);
    const newest = await openaiBatch(carol, "carol openai two");
    await openaiBatch(dave, "dave openai");
    await eventually(async () => ((await openaiOf(carol).batches.retrieve(newest.id)).status === "completed" ? true : undefined), { timeoutMs: 30_000, what: "carol's OpenAI batch completed" });

    const all = (await json(await stack.request("/v1/ai/batches", { key: carol }))).data.data;
    expect(all.batches.map((b: { batch_id: string; dialect: string }) => [b.batch_id, b.dialect])).toEqual([
      [newest.id, "openai"],
      [native.batch_id, "flexstack"],
      [oldest.id, "openai"],
    ]);
    expect(all.batches[0]).toMatchObject({ endpoint: "/v1/chat/completions", total: 1, counts: { COMPLETED: 1 }, percent: 100, status: "completed" });
    expect(all.has_more).toBe(false);

    // One at a time: every batch once, in the same order, whichever kind the `after` anchor is.
    const seen: string[] = [];
    for (let after: string | null = null, more = true; more; ) {
      const query: string = after ? `&after=${after}` : "";
      const page = (await json(await stack.request(`/v1/ai/batches?limit=1${query}`, { key: carol }))).data.data;
      seen.push(...page.batches.map((b: { batch_id: string }) => b.batch_id));
      [after, more] = [page.last_id, page.has_more];
    }
    expect(seen).toEqual([newest.id, native.batch_id, oldest.id]);

    // An OpenAI batch reads in the task dialect too, and stays its owner's.
    expect(await getBatch(newest.id, carol)).toMatchObject({ batch_id: newest.id, dialect: "openai", total: 1 });
    expect((await stack.request(`/v1/ai/batches/${newest.id}`, { key: dave })).status).toBe(404);
    const davesList = (await json(await stack.request("/v1/ai/batches", { key: dave }))).data.data;
    expect(davesList.batches.map((b: { batch_id: string }) => b.batch_id)).not.toContain(newest.id);
    expect(davesList.batches).toHaveLength(1);
  });

  it("leaves priority to the admin: a tenant asking for one gets 403 naming the field and nothing is written; tenants' batches run at the batch tier", async () => {
    const tenant = await newTenantKey("batch-priority");
    const before = await rowCounts();
    const refused = await stack.request("/v1/ai/batches", { method: "POST", json: { requests: [item("me first", SLOW)], priority: 1 }, key: tenant });
    const envelope = await json(refused);
    expect([refused.status, envelope.status, envelope.errors[0].code, envelope.errors[0].param]).toEqual([403, "error", "permission_denied", "priority"]);
    expect(await rowCounts()).toEqual(before);

    // The run queue keeps each task's tier: a tenant's batch runs at `flex`, an operator's prioritised one at `default`.
    const tierOf = async (taskId: string) => (await stack.api.deps.queues.jobState("llm_llama_3_1_8b_instruct_queue", taskId))?.tier;
    const tenants = await createBatch({ requests: [item("in line", SLOW)] }, tenant);
    expect(await tierOf(tenants.task_ids[0]!)).toBe("flex");
    const admins = await createBatch({ requests: [item("operator's", SLOW)], priority: 7 });
    expect(await tierOf(admins.task_ids[0]!)).toBe("default");
    for (const batchId of [tenants.batch_id, admins.batch_id]) await stack.request(`/v1/ai/batches/${batchId}/cancel`, { method: "POST" });
  });
});
