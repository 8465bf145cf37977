import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Writable } from "node:stream";
import { createApp } from "@llmq/api";
import { json } from "@llmq/testkit";
import { FAST_AND_SLOW_MODELS, type TestStack, startTestStack } from "@llmq/stack";
import pino from "pino";

// Issue 13, "Lean hot path": per-request access logs at debug only (errors and slow requests always),
// no ETag on JSON answers, metric labels from the route Express matched.
let stack: TestStack;
let taskId: string;
const servers: Server[] = [];

beforeAll(async () => {
  stack = await startTestStack({ models: FAST_AND_SLOW_MODELS });
  const res = await stack.request("/v1/ai/text_completion", { method: "POST", json: { messages: [{ role: "user", content: "hi" }], configs: { model: "gemma-7b", max_tokens: 4 } } });
  expect(res.status).toBe(200);
  taskId = (await json(res)).data.data.task_id as string;
});
afterAll(async () => {
  for (const server of servers) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
  await stack.close();
});

interface LogLine {
  level: number;
  msg: string;
  reqId?: string;
  route?: string;
  status?: number;
  req?: { headers?: Record<string, string> };
  [field: string]: unknown;
}

/** The stack's app on a socket of its own, logging at `level` into `lines`, with `env` changed. */
async function appLoggingAt(level: string, env: Partial<TestStack["api"]["deps"]["env"]> = {}): Promise<{ url: string; lines: LogLine[] }> {
  const lines: LogLine[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split("\n")) if (line) lines.push(JSON.parse(line) as LogLine);
      done();
    },
  });
  const logger = pino({ level }, destination);
  const deps = stack.api.deps;
  const server = createApp({ ...deps, logger, env: { ...deps.env, ...env } }, { onResponse: stack.responses.observe }).listen(0, "127.0.0.1");
  servers.push(server);
  await new Promise((resolve) => server.once("listening", resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, lines };
}

const poll = (url: string, path = `/v1/ai/tasks/${taskId}`, init: RequestInit = {}) =>
  fetch(url + path, { ...init, headers: { authorization: `Bearer ${stack.adminKey}`, ...(init.headers as Record<string, string>) } });

describe("access logs", () => {
  it("write nothing for answered requests at info, and one short line per request at debug: method, path, status, ms, request id, task id", async () => {
    const quiet = await appLoggingAt("info");
    for (let i = 0; i < 10; i++) expect((await poll(quiet.url)).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(quiet.lines.map((line) => line.msg)).toEqual([]);

    const verbose = await appLoggingAt("debug");
    const res = await poll(verbose.url);
    expect(res.status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(verbose.lines).toHaveLength(1);
    const [line] = verbose.lines;
    expect(line!.msg).toMatch(new RegExp(`^GET /v1/ai/tasks/${taskId} 200 \\d+(\\.\\d)? ms$`));
    expect(line).toMatchObject({ level: 20, reqId: res.headers.get("x-request-id"), method: "GET", url: `/v1/ai/tasks/${taskId}`, status: 200, route: "/v1/ai/tasks/{taskId}" });
    expect(line!.ms).toEqual(expect.any(Number));
    // Short: no headers (they come at trace), nothing nested.
    expect(line!.req).toBeUndefined();
    expect(JSON.stringify(line).length).toBeLessThan(400);

    // A submission's line names the task it made.
    const submitted = await fetch(`${verbose.url}/v1/ai/text_completion?async=true`, {
      method: "POST",
      headers: { authorization: `Bearer ${stack.adminKey}`, "content-type": "application/json" },
      body: JSON.stringify({ messages: [{ role: "user", content: "hi" }], configs: { model: "gemma-7b", max_tokens: 4 } }),
    });
    const submittedId = submitted.headers.get("x-task-id");
    expect(submittedId).toEqual(expect.any(String));
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(verbose.lines[1]).toMatchObject({ method: "POST", url: "/v1/ai/text_completion?async=true", status: submitted.status, taskId: submittedId });

    const traced = await appLoggingAt("trace");
    await poll(traced.url);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(traced.lines[0]!.req!.headers).toMatchObject({ authorization: expect.any(String) });
  });

  it("always log a slow request (over SLOW_REQUEST_MS in the service) and a refused one, even at warn", async () => {
    const app = await appLoggingAt("warn", { SLOW_REQUEST_MS: 0 });
    const slow = await poll(app.url);
    expect(slow.status).toBe(200);
    const refused = await poll(app.url, "/v1/ai/tasks/00000000-0000-4000-8000-000000000000");
    expect(refused.status).toBe(404);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(app.lines.find((line) => line.msg.startsWith("slow request: GET /v1/ai/tasks/"))).toMatchObject({ level: 40, reqId: slow.headers.get("x-request-id"), route: "/v1/ai/tasks/{taskId}" });
    expect(app.lines.find((line) => line.msg === "request refused")).toMatchObject({ level: 40, status: 404 });
  });

  it("do not count a wait for the task's upstream as the service's slowness", async () => {
    const app = await appLoggingAt("warn", { SLOW_REQUEST_MS: 500 });
    // 60 tokens at 40 a second: the one-second wait runs out first, and answers the task RUNNING.
    const res = await fetch(`${app.url}/v1/ai/text_completion?wait=1`, {
      method: "POST",
      headers: { authorization: `Bearer ${stack.adminKey}`, "content-type": "application/json" },
      body: JSON.stringify({ messages: [{ role: "user", content: "take your time" }], configs: { model: "llama-3.1-8b-instruct", max_tokens: 60 } }),
    });
    expect(res.status).toBe(200);
    expect((await json(res)).data.data.status).not.toBe("COMPLETED");
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(app.lines.filter((line) => line.msg.startsWith("slow request"))).toEqual([]);
  });
});

describe("JSON answers", () => {
  it("carry no ETag (bodies are not hashed per request)", async () => {
    const res = await poll(stack.url);
    expect(res.status).toBe(200);
    expect(res.headers.get("etag")).toBeNull();
    expect((await stack.request("/v1/models")).headers.get("etag")).toBeNull();
  });
});

describe("metric route labels", () => {
  it("come from the route Express matched: a method no route serves is unmatched, even on a documented path", async () => {
    expect((await poll(stack.url, `/v1/ai/tasks/${taskId}`, { method: "PUT" })).status).toBe(404);
    expect((await stack.request("/v1/models/gemma-7b")).status).toBe(200);
    const text = await (await fetch(`${stack.url}/metrics`, { headers: { authorization: `Bearer ${stack.adminKey}` } })).text();
    expect(text).toContain('llmq_http_requests_total{method="PUT",route="unmatched",status="404"} 1');
    expect(text).not.toContain('method="PUT",route="/v1/ai/tasks/{taskId}"');
    expect(text).toContain('llmq_http_requests_total{method="GET",route="/v1/models/{model}",status="200"} 1');
  });
});

// A completion's time in the service outside its upstream call, as LiteLLM's x-litellm-overhead-duration-ms.
describe("x-llmq-overhead-ms", () => {
  /** The task's attempt (started_at to completed_at, as the worker recorded them), in ms. */
  async function attemptMs(id: string): Promise<number> {
    const task = (await json(await stack.request(`/v1/ai/tasks/${id}`))).data.data;
    return Date.parse(task.completed_at) - Date.parse(task.started_at);
  }

  it("is answered by a non-stream chat completion and a synchronous task-API wait: the request's time less the upstream's, and served in /metrics", async () => {
    // 40 tokens a second: 12 tokens take about 300 ms upstream, which must not count as overhead.
    const sent = performance.now();
    const chat = await stack.request("/v1/chat/completions", { method: "POST", json: { model: "llama-3.1-8b-instruct", max_tokens: 12, messages: [{ role: "user", content: "hello there" }] } });
    const chatTotalMs = performance.now() - sent;
    expect(chat.status).toBe(200);
    expect(chat.headers.get("x-llmq-overhead-ms")).toMatch(/^\d+(\.\d)?$/);
    const chatOverhead = Number(chat.headers.get("x-llmq-overhead-ms"));
    const chatAttempt = await attemptMs(chat.headers.get("x-task-id")!);
    expect(chatAttempt).toBeGreaterThan(200);
    expect(chatOverhead).toBeGreaterThanOrEqual(0);
    expect(chatOverhead + chatAttempt).toBeLessThanOrEqual(chatTotalMs + 1);
    expect(chatOverhead).toBeLessThan(chatTotalMs - 200);

    const waited = await stack.request("/v1/ai/text_completion", { method: "POST", json: { messages: [{ role: "user", content: "hi" }], configs: { model: "llama-3.1-8b-instruct", max_tokens: 12 } } });
    expect(waited.status).toBe(200);
    expect((await json(waited)).data.data.status).toBe("COMPLETED");
    expect(waited.headers.get("x-llmq-overhead-ms")).toMatch(/^\d+(\.\d)?$/);

    // Not on answers that did not wait for an upstream.
    const queued = await stack.request("/v1/ai/text_completion?async=true", { method: "POST", json: { messages: [{ role: "user", content: "hi" }], configs: { model: "gemma-7b", max_tokens: 4 } } });
    expect(queued.status).toBe(202);
    expect(queued.headers.get("x-llmq-overhead-ms")).toBeNull();
    expect((await poll(stack.url)).headers.get("x-llmq-overhead-ms")).toBeNull();

    const text = await (await fetch(`${stack.url}/metrics`, { headers: { authorization: `Bearer ${stack.adminKey}` } })).text();
    expect(text).toContain('llmq_overhead_seconds_count{route="/v1/chat/completions"} 1');
    // Two synchronous waits: the one before all tests, and this one.
    expect(text).toContain('llmq_overhead_seconds_count{route="/v1/ai/text_completion"} 2');
    const sum = Number(/^llmq_overhead_seconds_sum\{route="\/v1\/chat\/completions"\} (\S+)$/m.exec(text)?.[1]);
    expect(sum * 1000).toBeCloseTo(chatOverhead, 0);
  });
});
