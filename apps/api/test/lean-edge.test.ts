import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Writable } from "node:stream";
import { createApp } from "@llmq/api";
import { json } from "@llmq/testkit";
import { type TestStack, startTestStack } from "@llmq/testkit/stack";
import pino from "pino";

// Issue 13, "Lean hot path": per-request access logs at debug only (errors and slow requests always),
// no ETag on JSON answers, metric labels from the route Express matched.
let stack: TestStack;
let taskId: string;
const servers: Server[] = [];

beforeAll(async () => {
  stack = await startTestStack();
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
  req?: { id: string };
  route?: string;
  res?: { statusCode: number };
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
  const server = createApp({ ...deps, logger, env: { ...deps.env, ...env } }).listen(0, "127.0.0.1");
  servers.push(server);
  await new Promise((resolve) => server.once("listening", resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, lines };
}

const poll = (url: string, path = `/v1/ai/tasks/${taskId}`, init: RequestInit = {}) =>
  fetch(url + path, { ...init, headers: { authorization: `Bearer ${stack.adminKey}`, ...(init.headers as Record<string, string>) } });

describe("access logs", () => {
  it("write nothing for answered requests at info, and one line per request at debug with its route, status and time", async () => {
    const quiet = await appLoggingAt("info");
    for (let i = 0; i < 10; i++) expect((await poll(quiet.url)).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(quiet.lines.map((line) => line.msg)).toEqual([]);

    const verbose = await appLoggingAt("debug");
    const res = await poll(verbose.url);
    expect(res.status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(verbose.lines).toHaveLength(1);
    expect(verbose.lines[0]).toMatchObject({ level: 20, req: { id: res.headers.get("x-request-id") }, route: "/v1/ai/tasks/{taskId}", res: { statusCode: 200 } });
    expect(verbose.lines[0]!.responseTime).toEqual(expect.any(Number));
  });

  it("always log a slow request (over SLOW_REQUEST_MS in the service) and a refused one, even at warn", async () => {
    const app = await appLoggingAt("warn", { SLOW_REQUEST_MS: 0 });
    const slow = await poll(app.url);
    expect(slow.status).toBe(200);
    const refused = await poll(app.url, "/v1/ai/tasks/00000000-0000-4000-8000-000000000000");
    expect(refused.status).toBe(404);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(app.lines.find((line) => line.msg === "slow request")).toMatchObject({ level: 40, req: { id: slow.headers.get("x-request-id") }, route: "/v1/ai/tasks/{taskId}" });
    expect(app.lines.find((line) => line.msg === "request refused")).toMatchObject({ level: 40, status: 404 });
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
