import { eventually, json } from "@llmq/testkit";
import { type TestStack, startTestStack } from "@llmq/stack";
import OpenAI, { toFile } from "openai";

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(async () => {
  await stack.close();
});

const body = (content: string, model = "gemma-7b") => ({ messages: [{ role: "user", content }], configs: { model, max_tokens: 8 } });

async function submit(payload: unknown, key: string | null, init: { apiKey?: string; path?: string } = {}) {
  return stack.request(init.path ?? "/v1/ai/text_completion?async=true", {
    method: "POST",
    json: payload,
    key: init.apiKey,
    headers: key === null ? {} : { "idempotency-key": key },
  });
}

async function taskCount(): Promise<number> {
  const rows = await stack.api.deps.db.$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM tasks`;
  return Number(rows[0]!.n);
}

async function newTenantKey(name: string): Promise<string> {
  const res = await stack.request("/v1/admin/keys", { method: "POST", json: { name } });
  return (await json(res)).data.data.key;
}

describe("Idempotency-Key on task submissions", () => {
  it("the same key and request give the same task, marked as a replay", async () => {
    const before = await taskCount();
    const first = await submit(body("once"), "key-same-1");
    expect(first.status).toBe(202);
    expect(first.headers.get("idempotent-replayed")).toBeNull();
    const again = await submit(body("once"), "key-same-1");
    expect(again.status).toBe(202);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect((await json(again)).data.data.task_id).toBe((await json(first)).data.data.task_id);
    expect(await taskCount()).toBe(before + 1);
  });

  it("a synchronous repeat waits for and answers the first task's result", async () => {
    const first = await submit(body("sync"), "key-sync-1", { path: "/v1/ai/text_completion" });
    const firstBody = await json(first);
    expect(firstBody.data.data.status).toBe("COMPLETED");
    const again = await submit(body("sync"), "key-sync-1", { path: "/v1/ai/text_completion" });
    const againBody = await json(again);
    expect(againBody.data.data).toMatchObject({ task_id: firstBody.data.data.task_id, status: "COMPLETED", response: firstBody.data.data.response });
  });

  it("the same key with another request is refused with 422 naming the conflict, in the caller's dialect", async () => {
    await submit(body("original"), "key-reuse-1");
    const chat = { model: "gemma-7b", messages: [{ role: "user", content: "hi" }], max_tokens: 4 };
    expect((await submit(chat, "key-reuse-2", { path: "/v1/chat/completions" })).status).toBe(200);
    const before = await taskCount();
    const flex = await submit(body("something else"), "key-reuse-1");
    expect(flex.status).toBe(422);
    expect((await json(flex)).errors[0]).toMatchObject({ code: "idempotency_key_reused", param: "Idempotency-Key" });
    // Same body to another route is another request too.
    const otherRoute = await submit(body("original"), "key-reuse-1", { path: "/v1/ai/text_completion" });
    expect(otherRoute.status).toBe(422);

    const openai = await submit({ ...chat, max_tokens: 5 }, "key-reuse-2", { path: "/v1/chat/completions" });
    expect(openai.status).toBe(422);
    expect((await json(openai)).error).toMatchObject({ code: "idempotency_key_reused", param: "Idempotency-Key", type: "invalid_request_error" });
    expect(await taskCount()).toBe(before);
  });

  it("50 concurrent requests with one key make one task, and all answer it", async () => {
    const before = await taskCount();
    const answers = await Promise.all(Array.from({ length: 50 }, () => submit(body("stampede"), "key-concurrent-1")));
    expect(answers.map((res) => res.status)).toEqual(Array(50).fill(202));
    const ids = new Set(await Promise.all(answers.map(async (res) => (await json(res)).data.data.task_id as string)));
    expect(ids.size).toBe(1);
    expect(await taskCount()).toBe(before + 1);
    expect(answers.filter((res) => res.headers.get("idempotent-replayed") === "true")).toHaveLength(49);
  });

  it("keys belong to their caller: another tenant's identical key and request make its own task", async () => {
    const [a, b] = [await newTenantKey("tenant a"), await newTenantKey("tenant b")];
    const fromA = await json(await submit(body("shared key"), "key-tenants-1", { apiKey: a }));
    const fromB = await json(await submit(body("shared key"), "key-tenants-1", { apiKey: b }));
    expect(fromA.data.data.task_id).not.toBe(fromB.data.data.task_id);
  });

  it("a request that failed leaves the key free for the corrected retry", async () => {
    const refused = await submit(body("typo", "no-such-model"), "key-failed-1");
    expect(refused.status).toBe(404);
    const fixed = await submit(body("typo"), "key-failed-1");
    expect(fixed.status).toBe(202);
  });

  it("a key older than 24 hours is free again", async () => {
    const first = (await json(await submit(body("old"), "key-expired-1"))).data.data.task_id;
    await stack.api.deps.db.$executeRaw`UPDATE idempotency_keys SET created_at = now() - interval '25 hours' WHERE key = 'key-expired-1'`;
    const second = (await json(await submit(body("old"), "key-expired-1"))).data.data.task_id;
    expect(second).not.toBe(first);
  });

  it("a claim whose request died before creating anything is taken over after a minute, creating one task", async () => {
    const first = (await json(await submit(body("died"), "key-abandoned-1"))).data.data.task_id;
    // As if that request had died after claiming the key and before committing its task.
    await stack.api.deps.db.$executeRaw`DELETE FROM tasks WHERE task_id = ${first}`;
    await stack.api.deps.db.$executeRaw`UPDATE idempotency_keys SET created_at = now() - interval '2 minutes' WHERE key = 'key-abandoned-1'`;
    const before = await taskCount();
    const retried = await submit(body("died"), "key-abandoned-1");
    expect(retried.status).toBe(202);
    expect(retried.headers.get("idempotent-replayed")).toBeNull();
    expect((await json(retried)).data.data.task_id).not.toBe(first);
    expect(await taskCount()).toBe(before + 1);
  });

  it("refuses a malformed key with 400", async () => {
    const res = await submit(body("x"), "x".repeat(256));
    expect(res.status).toBe(400);
    expect((await json(res)).errors[0].param).toBe("Idempotency-Key");
  });
});

describe("Idempotency-Key on batches", () => {
  it("a native batch sent twice is one batch with the same task ids", async () => {
    const payload = { requests: [body("b1"), body("b2")] };
    const first = await json(await submit(payload, "key-native-1", { path: "/v1/ai/batches" }));
    const again = await submit(payload, "key-native-1", { path: "/v1/ai/batches" });
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect((await json(again)).data.data).toMatchObject({ batch_id: first.data.data.batch_id, task_ids: first.data.data.task_ids, total: 2 });
    const count = await stack.api.deps.db.$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM tasks WHERE batch_id = ${first.data.data.batch_id}`;
    expect(Number(count[0]!.n)).toBe(2);
  });

  it("an OpenAI batch created twice through the SDK with one Idempotency-Key header is one batch", async () => {
    const client = new OpenAI({ baseURL: `${stack.url}/v1`, apiKey: stack.adminKey });
    const line = JSON.stringify({ custom_id: "x", method: "POST", url: "/v1/chat/completions", body: { model: "gemma-7b", messages: [{ role: "user", content: "x" }] } });
    const file = await client.files.create({ file: await toFile(Buffer.from(`${line}\n`), "in.jsonl"), purpose: "batch" });
    const params = { input_file_id: file.id, endpoint: "/v1/chat/completions" as const, completion_window: "24h" as const };
    const options = { headers: { "Idempotency-Key": "key-openai-batch-1" } };
    const first = await client.batches.create(params, options);
    const again = await client.batches.create(params, options);
    expect(again.id).toBe(first.id);
    const list = await client.batches.list();
    expect(list.data.filter((batch) => batch.input_file_id === file.id)).toHaveLength(1);
    await eventually(async () => ((await client.batches.retrieve(first.id)).status === "completed" ? true : undefined));
  });
});
