import { json } from "@llmq/testkit";
import { type TestStack, startTestStack } from "@llmq/stack";

// No worker: nothing may consume a job, so any job a rejected request enqueued would show in the counts.
let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack({ worker: false });
});
afterAll(async () => {
  await stack.close();
});

const MESSAGES = [{ role: "user", content: "hello" }];

/** Everything a rejected request must leave untouched: task rows and every model's queue. */
async function snapshot() {
  const { db, queues, models } = stack.api.deps;
  const counts = await Promise.all(models.models.map((model) => queues.counts(model.queueName)));
  return { tasks: await db.task.count(), queues: counts };
}

/** Sends a request and checks it was rejected as documented, wrote nothing, and leaked no stack trace. */
async function expectRejected(
  send: () => Promise<Response>,
  expected: { status: number; code?: string; param?: string | null },
): Promise<any> {
  const before = await snapshot();
  const res = await send();
  const text = await res.text();
  expect({ status: res.status, text }).toMatchObject({ status: expected.status });
  expectNoStackTrace(text);
  const body = JSON.parse(text);
  expect(body).toMatchObject({ data: null, status: "error", errors: [expect.objectContaining({ message: expect.any(String) })] });
  expect(body.error_description).toBe(body.errors[0].message);
  if (expected.code !== undefined) expect(body.errors[0].code).toBe(expected.code);
  if (expected.param !== undefined) expect(body.errors[0].param).toBe(expected.param);
  expect(res.headers.get("x-task-id")).toBeNull();
  expect(await snapshot()).toEqual(before);
  return body;
}

function expectNoStackTrace(text: string) {
  expect(text).not.toMatch(/\bat \S+:\d+:\d+/); // at /src/file.ts:1:2
  expect(text).not.toMatch(/\bat \S+ \(\S+:\d+:\d+\)/); // at fn (/src/file.ts:1:2)
  expect(text).not.toMatch(/\.[cm]?[tj]s:\d+/);
  expect(text).not.toContain("node_modules");
}

const submit = (body: unknown, query = "") => () => stack.request(`/v1/ai/text_completion${query}`, { method: "POST", json: body });
const submitRaw = (body: string, contentType = "application/json") => () =>
  stack.request("/v1/ai/text_completion", { method: "POST", body, headers: { "content-type": contentType } });

describe("POST /v1/ai/text_completion rejects bad input, writes nothing and enqueues nothing", () => {
  const cases: [string, string, unknown][] = [
    ["no messages", "messages", {}],
    ["empty messages", "messages", { messages: [] }],
    ["messages not an array", "messages", { messages: "hello" }],
    ["unknown role", "messages.0.role", { messages: [{ role: "wizard", content: "hi" }] }],
    ["content a number", "messages.0.content", { messages: [{ role: "user", content: 42 }] }],
    ["unknown message key", "messages.0.mood", { messages: [{ role: "user", content: "hi", mood: "happy" }] }],
    ["temperature a string", "configs.temperature", { messages: MESSAGES, configs: { temperature: "0.5" } }],
    ["temperature above 2", "configs.temperature", { messages: MESSAGES, configs: { temperature: 2.5 } }],
    ["max_tokens 4097", "configs.max_tokens", { messages: MESSAGES, configs: { max_tokens: 4097 } }],
    ["max_tokens 0", "configs.max_tokens", { messages: MESSAGES, configs: { max_tokens: 0 } }],
    ["max_tokens not an integer", "configs.max_tokens", { messages: MESSAGES, configs: { max_tokens: 10.5 } }],
    ["max_new_tokens 4097", "configs.max_new_tokens", { messages: MESSAGES, configs: { max_new_tokens: 4097 } }],
    ["max_tokens and max_new_tokens differ", "configs.max_new_tokens", { messages: MESSAGES, configs: { max_tokens: 10, max_new_tokens: 20 } }],
    ["unknown configs key", "configs.frequency_penalty", { messages: MESSAGES, configs: { frequency_penalty: 1 } }],
    ["top_p 0", "configs.top_p", { messages: MESSAGES, configs: { top_p: 0 } }],
    ["top_p above 1", "configs.top_p", { messages: MESSAGES, configs: { top_p: 1.01 } }],
    ["top_k 0", "configs.top_k", { messages: MESSAGES, configs: { top_k: 0 } }],
    ["configs not an object", "configs", { messages: MESSAGES, configs: "fast" }],
    ["unknown top-level key", "extra", { messages: MESSAGES, extra: true }],
  ];

  it.each(cases)("%s -> 400 naming %s", async (_name, param, body) => {
    await expectRejected(submit(body), { status: 400, code: "invalid_request", param });
  });

  it("names an unknown model with 404 model_not_found and lists the served ones", async () => {
    const body = await expectRejected(submit({ messages: MESSAGES, configs: { model: "gpt-17" } }), {
      status: 404,
      code: "model_not_found",
      param: "configs.model",
    });
    expect(body.errors[0].message).toContain("gpt-17");
    expect(body.errors[0].message).toContain("gemma-7b");
    expect(body.errors[0].message).toContain("llama-3.1-8b-instruct");
  });

  it("rejects malformed JSON with 400 invalid_json", async () => {
    await expectRejected(submitRaw('{"messages": [{"role": "user", "content": "hi"}'), { status: 400, code: "invalid_json", param: "body" });
    await expectRejected(submitRaw("{'messages': []}"), { status: 400, code: "invalid_json", param: "body" });
  });

  it("rejects a body that is not a JSON object", async () => {
    // Top-level scalars are refused by the JSON parser itself; an array reaches validation.
    await expectRejected(submitRaw('"just a string"'), { status: 400, code: "invalid_json", param: "body" });
    await expectRejected(submitRaw("42"), { status: 400, code: "invalid_json", param: "body" });
    await expectRejected(submitRaw("null"), { status: 400, code: "invalid_json", param: "body" });
    await expectRejected(submitRaw(JSON.stringify([{ messages: MESSAGES }])), { status: 400, code: "invalid_request", param: "body" });
    // A body sent as another type is not read, and the answer says what to send.
    const body = await expectRejected(submitRaw("messages=hello", "text/plain"), { status: 400, code: "unsupported_content_type", param: "content-type" });
    expect(body.errors[0].message).toContain("Content-Type: application/json");
  });

  it("rejects a body over 1 MiB with 413 payload_too_large", async () => {
    const huge = { messages: [{ role: "user", content: "x".repeat(1024 * 1024 + 1) }] };
    await expectRejected(submit(huge), { status: 413, code: "payload_too_large" });
  });

  it.each([
    ["?stream=maybe", "stream"],
    ["?async=later", "async"],
    ["?wait=-1", "wait"],
    ["?wait=soon", "wait"],
  ])("rejects the query %s with 400 naming %s", async (query, param) => {
    await expectRejected(submit({ messages: MESSAGES }, query), { status: 400, code: "invalid_request", param });
  });

  it("accepts the same request once it is fixed (the checks above would have seen a write)", async () => {
    const before = await snapshot();
    const res = await stack.request("/v1/ai/text_completion?async=true", { method: "POST", json: { messages: MESSAGES } });
    expect(res.status).toBe(202);
    const after = await snapshot();
    expect(after.tasks).toBe(before.tasks + 1);
    expect(after.queues[0]!.waiting).toBe(before.queues[0]!.waiting + 1);
  });
});

describe("other bad requests", () => {
  it("answers an unknown route with a 404 envelope", async () => {
    for (const [path, method] of [
      ["/v1/ai/nothing-here", "GET"],
      ["/v1/ai/text_completion", "GET"],
      ["/v1/ai/tasks/0123456789abcdef0123456789abcdef/rerun", "POST"],
      ["/v1/admin/nothing-here", "GET"],
      ["/v1/auth/nothing-here", "POST"],
      ["/v1/users/nothing-here", "GET"],
    ] as const) {
      const res = await stack.request(path, { method });
      expect(res.status).toBe(404);
      const text = await res.text();
      expectNoStackTrace(text);
      expect(JSON.parse(text)).toMatchObject({ data: null, status: "error", errors: [{ code: "route_not_found" }] });
    }
    const outside = await fetch(`${stack.url}/no/such/route`);
    expect(outside.status).toBe(404);
    expectNoStackTrace(await outside.text());
  });

  it("answers a task id that is not one with 404 task_not_found", async () => {
    for (const path of ["/v1/ai/tasks/nope", "/v1/ai/tasks/0123456789abcdef0123456789abcdef", "/v1/ai/tasks/%E2%82%AC"]) {
      const res = await stack.request(path);
      expect(res.status).toBe(404);
      const text = await res.text();
      expectNoStackTrace(text);
      expect(JSON.parse(text)).toMatchObject({ status: "error", errors: [{ code: "task_not_found", param: "task_id" }] });
    }
  });

  it("rejects bad history filters with 400 naming the field", async () => {
    for (const [query, param] of [
      ["status=DONE", "status"],
      ["limit=0", "limit"],
      ["limit=201", "limit"],
      ["created_from=yesterday", "created_from"],
    ] as const) {
      const res = await stack.request(`/v1/ai/tasks?${query}`);
      expect(res.status).toBe(400);
      const text = await res.text();
      expectNoStackTrace(text);
      expect(JSON.parse(text)).toMatchObject({ status: "error", errors: [{ code: "invalid_request", param }] });
    }
  });

  it("rejects a bad admin key request with 400 naming the field and creates no key", async () => {
    const keysBefore = await stack.api.deps.db.apiKey.count();
    for (const [body, param] of [
      [{}, "name"],
      [{ name: "" }, "name"],
      [{ name: 7 }, "name"],
      [{ name: "ok", user_id: "not-a-uuid" }, "user_id"],
    ] as const) {
      const res = await stack.request("/v1/admin/keys", { method: "POST", json: body });
      expect(res.status).toBe(400);
      const text = await res.text();
      expectNoStackTrace(text);
      expect(JSON.parse(text)).toMatchObject({ status: "error", errors: [{ param }] });
    }
    expect(await stack.api.deps.db.apiKey.count()).toBe(keysBefore);
  });
});
