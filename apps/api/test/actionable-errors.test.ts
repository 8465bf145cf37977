import { randomBytes } from "node:crypto";
import { gzipSync } from "node:zlib";
import { json } from "@llmq/testkit";
import { type TestStack, startTestStack } from "@llmq/stack";

// Errors a user can act on: each names what to change, in the caller's dialect, and writes nothing.
// Small limits keep the bodies small; the messages must name the limit as configured.
let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack({ worker: false, env: { BODY_LIMIT: "2kb", BATCH_BODY_LIMIT: "4kb" } });
});
afterAll(async () => {
  await stack.close();
});

const MESSAGES = [{ role: "user", content: "hello" }];
const tasks = () => stack.api.deps.db.task.count();

/** Sends a request and returns its status and error message (either dialect), checking nothing was written. */
async function refused(path: string, init: RequestInit & { json?: unknown }) {
  const before = await tasks();
  const res = await stack.request(path, { method: "POST", ...init });
  const body = await json(res);
  expect(await tasks()).toBe(before);
  return { status: res.status, body, message: (body.error?.message ?? body.errors?.[0]?.message) as string };
}

describe("413 names the limit and the variable that sets it", () => {
  const big = (bytes: number) => ({ messages: [{ role: "user", content: "x".repeat(bytes) }] });

  it("task dialect: BODY_LIMIT, in the Flexstack envelope", async () => {
    const { status, body, message } = await refused("/v1/ai/text_completion", { json: big(3000) });
    expect(status).toBe(413);
    expect(body).toMatchObject({ data: null, status: "error", errors: [{ code: "payload_too_large", param: "body" }] });
    expect(message).toContain("2kb");
    expect(message).toContain("BODY_LIMIT");
    expect(message).not.toContain("BATCH_BODY_LIMIT");
  });

  it("OpenAI dialect: BODY_LIMIT, in the OpenAI error object", async () => {
    const { status, body, message } = await refused("/v1/chat/completions", { json: { model: "gemma-7b", ...big(3000) } });
    expect(status).toBe(413);
    expect(body.error).toMatchObject({ code: "payload_too_large", param: "body" });
    expect(message).toContain("2kb");
    expect(message).toContain("BODY_LIMIT");
  });

  it("native batches: BATCH_BODY_LIMIT", async () => {
    const requests = Array.from({ length: 4 }, () => ({ messages: [{ role: "user", content: "y".repeat(1500) }] }));
    const { status, body, message } = await refused("/v1/ai/batches", { json: { requests } });
    expect(status).toBe(413);
    expect(body).toMatchObject({ status: "error", errors: [{ code: "payload_too_large" }] });
    expect(message).toContain("4kb");
    expect(message).toContain("BATCH_BODY_LIMIT");
  });

  it("native batches, compressed: the same 413 whether the decoded body passes the limit or the compressed bytes already do", async () => {
    const requests = Array.from({ length: 4 }, () => ({ messages: [{ role: "user", content: "y".repeat(1500) }] }));
    // 6 KB of JSON in ~100 bytes (decoded in the parser thread, stopped at 4 KB), and 8 KB of gzipped noise
    // (refused as it arrives: no 4 KB body takes that much once compressed).
    const noise = gzipSync(randomBytes(8 * 1024));
    expect(noise.length).toBeGreaterThan(8 * 1024);
    for (const body of [gzipSync(JSON.stringify({ requests })), noise]) {
      const { status, body: answer, message } = await refused("/v1/ai/batches", { body, headers: { "content-type": "application/json", "content-encoding": "gzip" } });
      expect(status).toBe(413);
      expect(answer).toMatchObject({ status: "error", errors: [{ code: "payload_too_large", param: "body" }] });
      expect(message).toContain("4kb (4,096 bytes), counted after decompression");
      expect(message).toContain("BATCH_BODY_LIMIT");
    }
  });
});

describe("a JSON body sent without Content-Type: application/json says to send it", () => {
  // A Uint8Array body: fetch adds no Content-Type of its own, as a bare HTTP client would send it.
  const bytes = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));

  it.each([
    ["no Content-Type", undefined],
    ["curl -d's form type", "application/x-www-form-urlencoded"],
    ["text/plain", "text/plain"],
  ])("task dialect, %s: 400 in the envelope", async (_name, type) => {
    const { status, body, message } = await refused("/v1/ai/text_completion", { body: bytes({ messages: MESSAGES }), headers: type ? { "content-type": type } : {} });
    expect(status).toBe(400);
    expect(body).toMatchObject({ data: null, status: "error", errors: [{ code: "unsupported_content_type", param: "content-type" }] });
    expect(message).toContain("Content-Type: application/json");
    expect(message).not.toMatch(/expected/);
  });

  it("OpenAI dialect: 400 in the OpenAI error object", async () => {
    const { status, body, message } = await refused("/v1/chat/completions", { body: bytes({ model: "gemma-7b", messages: MESSAGES }) });
    expect(status).toBe(400);
    expect(body.error).toMatchObject({ type: "invalid_request_error", code: "unsupported_content_type", param: "content-type" });
    expect(message).toContain("Content-Type: application/json");
  });

  it("native batches: the same 400", async () => {
    const { status, message } = await refused("/v1/ai/batches", { body: bytes({ requests: [{ messages: MESSAGES }] }) });
    expect(status).toBe(400);
    expect(message).toContain("Content-Type: application/json");
  });

  it("a POST that needs no body still works without one", async () => {
    const res = await stack.request("/v1/ai/tasks/0123456789abcdef0123456789abcdef/cancel", { method: "POST" });
    expect(res.status).toBe(404); // no such task: the request itself was accepted
    expect((await json(res)).errors[0].code).toBe("task_not_found");
  });
});

describe("logprobs says it is not supported yet", () => {
  it.each([
    ["/v1/chat/completions", { model: "gemma-7b", messages: MESSAGES, logprobs: true }, "logprobs"],
    ["/v1/chat/completions", { model: "gemma-7b", messages: MESSAGES, top_logprobs: 3 }, "top_logprobs"],
    ["/v1/completions", { model: "gemma-7b", prompt: "hello", logprobs: 2 }, "logprobs"],
  ])("%s %j: 400 naming it", async (path, body, param) => {
    const { status, body: answer, message } = await refused(path, { json: body });
    expect(status).toBe(400);
    expect(answer.error).toMatchObject({ param, code: "invalid_request" });
    expect(message).toContain("not supported yet");
    expect(message).not.toMatch(/expected/);
  });

  it("task dialect: configs.logprobs", async () => {
    const { status, body, message } = await refused("/v1/ai/text_completion", { json: { messages: MESSAGES, configs: { logprobs: true } } });
    expect(status).toBe(400);
    expect(body.errors[0]).toMatchObject({ param: "configs.logprobs" });
    expect(message).toContain("not supported yet");
  });

  it("logprobs: false and null are still accepted where OpenAI's SDKs send them", async () => {
    for (const [path, body] of [
      ["/v1/chat/completions", { model: "gemma-7b", messages: MESSAGES, logprobs: false, max_tokens: 4 }],
      ["/v1/completions", { model: "gemma-7b", prompt: "hello", logprobs: null, max_tokens: 4 }],
    ] as const) {
      const res = await stack.request(path, { method: "POST", json: body, headers: { prefer: "respond-async" } });
      expect({ path, status: res.status }).toEqual({ path, status: 202 });
    }
  });
});
