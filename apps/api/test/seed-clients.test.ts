import { json } from "@llmq/testkit";
import { type TestStack, startTestStack } from "@llmq/stack";

// Flexstack's clients as they are written: Python `requests` spells booleans `True`/`False`, the seed's
// documentation posts to `/ai/text_completion` (no `/v1`), and its envelope times carry microseconds.
let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(async () => {
  await stack.close();
});

const BODY = { messages: [{ role: "user", content: "Hello, have a good day!" }], configs: { model: "gemma-7b", max_tokens: 8 } };
const submit = (query: string, path = "/v1/ai/text_completion") => stack.request(`${path}${query}`, { method: "POST", json: BODY });

describe("booleans in query strings, as common clients spell them", () => {
  it.each(["True", "true", "TRUE", "1", "yes", "Yes", "on", "ON"])("?async=%s answers 202 at once", async (value) => {
    const res = await submit(`?async=${value}`);
    expect({ value, status: res.status }).toEqual({ value, status: 202 });
  });

  it.each(["False", "false", "FALSE", "0", "no", "off", ""])("?async=%s waits for the result", async (value) => {
    const res = await submit(`?async=${value}`);
    expect({ value, status: res.status }).toEqual({ value, status: 200 });
    expect((await json(res)).data.data.status).toBe("COMPLETED");
  });

  it("?stream=True streams Server-Sent Events; ?stream=False answers the envelope", async () => {
    const streamed = await submit("?stream=True");
    expect(streamed.status).toBe(200);
    expect(streamed.headers.get("content-type")).toContain("text/event-stream");
    expect(await streamed.text()).toContain("event: result");
    const whole = await submit("?stream=False");
    expect(whole.status).toBe(200);
    expect(whole.headers.get("content-type")).toContain("application/json");
    expect((await json(whole)).data.data.status).toBe("COMPLETED");
  });

  it.each([
    ["?stream=maybe", "stream"],
    ["?async=nope", "async"],
    ["?async=true&async=false", "async"],
  ])("%s is a 400 naming %s and the accepted spellings, and writes nothing", async (query, param) => {
    const before = await stack.api.deps.db.task.count();
    const res = await submit(query);
    expect(res.status).toBe(400);
    const body = await json(res);
    expect(body.errors[0]).toMatchObject({ code: "invalid_request", param });
    expect(body.errors[0].message).toContain(param);
    for (const spelling of ["true", "false", "True/False", "1/0", "yes/no", "any case"]) expect(body.errors[0].message).toContain(spelling);
    expect(await stack.api.deps.db.task.count()).toBe(before);
  });

  it("declares the spellings in /openapi.json", async () => {
    const doc = await json(await fetch(`${stack.url}/openapi.json`));
    const params = doc.paths["/v1/ai/text_completion"].post.parameters as { name: string; in: string; schema: { description?: string } }[];
    for (const name of ["stream", "async"]) {
      const param = params.find((p) => p.name === name && p.in === "query")!;
      expect(JSON.stringify(param)).toContain("True");
      expect(JSON.stringify(param)).toContain("yes");
    }
  });
});

describe("the seed's own paths, without /v1", () => {
  it("POST /ai/text_completion runs a task like /v1/ai/text_completion, and the task reads back at /ai/tasks/{id}", async () => {
    const res = await submit("?stream=false", "/ai/text_completion");
    expect(res.status).toBe(200);
    const envelope = await json(res);
    expect(envelope).toMatchObject({ status: "success", data: { is_success: true, data: { status: "COMPLETED", percent: 100 } } });
    const taskId = envelope.data.data.task_id;
    for (const path of [`/ai/tasks/${taskId}`, `/v1/ai/tasks/${taskId}`]) {
      const read = await stack.request(path);
      expect({ path, status: read.status }).toEqual({ path, status: 200 });
      expect((await json(read)).data.data.response).toBe(envelope.data.data.response);
    }
    const history = await json(await stack.request("/ai/tasks?limit=200"));
    expect(history.data.data.tasks.map((t: { task_id: string }) => t.task_id)).toContain(taskId);
    expect((await stack.request("/ai/models")).status).toBe(200);
  });

  it("lists every /v1/ai path under /ai too in /openapi.json, with the same operations", async () => {
    const doc = await json(await fetch(`${stack.url}/openapi.json`));
    const paths = Object.keys(doc.paths);
    const taskPaths = paths.filter((p) => p.startsWith("/v1/ai/"));
    expect(taskPaths.length).toBeGreaterThan(10);
    for (const path of taskPaths) {
      const alias = path.slice("/v1".length);
      expect(paths).toContain(alias);
      expect(Object.keys(doc.paths[alias]).sort()).toEqual(Object.keys(doc.paths[path]).sort());
    }
    expect(doc.paths["/ai/text_completion"].post.requestBody).toEqual(doc.paths["/v1/ai/text_completion"].post.requestBody);
  });
});

describe("unknown routes answer a 404 in the dialect their prefix implies", () => {
  it.each([
    ["/ai/nothing-here", "GET"],
    ["/ai/text_completions", "POST"],
    ["/v1/ai/nothing-here", "GET"],
    ["/v1/admin/nothing-here", "DELETE"],
  ])("%s: the Flexstack envelope", async (path, method) => {
    const res = await stack.request(path, { method });
    expect(res.status).toBe(404);
    expect(await json(res)).toMatchObject({ data: null, status: "error", errors: [{ code: "route_not_found" }], error_description: expect.stringContaining(path) });
  });

  it.each([
    ["/v1/nothing-here", "GET"],
    ["/v1/chat/completion", "POST"],
  ])("%s: the OpenAI error object", async (path, method) => {
    const res = await stack.request(path, { method });
    expect(res.status).toBe(404);
    expect(await json(res)).toEqual({ error: { message: expect.stringContaining(path), type: "invalid_request_error", param: null, code: "route_not_found" } });
  });

  it.each(["/nothing-here", "/api/text_completion", "/aix/text_completion"])("%s: a plain JSON 404", async (path) => {
    const res = await fetch(`${stack.url}${path}`);
    expect(res.status).toBe(404);
    expect(res.headers.get("content-type")).toContain("application/json");
    expect(await json(res)).toEqual({ error: "route_not_found", message: `No route GET ${path}.` });
  });
});

/** The seed's `2024-03-05 21:24:55.572492`: UTC, no zone, six digits of microseconds. */
const SEED_TIME = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{6}$/;
const micros = (time: string) => Date.parse(`${time.slice(0, 23)}Z`) * 1000 + Number(time.slice(23));

describe("envelope times as the seed has them", () => {
  it("start_time and end_time carry microseconds, total_time_by_second six decimals, in every envelope", async () => {
    const envelopes = [];
    for (let i = 0; i < 4; i++) envelopes.push(await json(await submit("?wait=30")));
    envelopes.push(await json(await stack.request("/v1/ai/models")));
    envelopes.push(await json(await stack.request("/v1/ai/nothing-here"))); // an error envelope
    envelopes.push(await json(await stack.request("/v1/ai/text_completion?stream=maybe", { method: "POST", json: BODY })));
    const seen = envelopes.map(({ start_time, end_time, total_time_by_second }) => ({ start_time, end_time, total_time_by_second }));
    for (const { start_time, end_time, total_time_by_second } of seen) {
      expect({ start_time, end_time }).toEqual({ start_time: expect.stringMatching(SEED_TIME), end_time: expect.stringMatching(SEED_TIME) });
      // total_time_by_second is end - start, to the microsecond.
      expect(Math.abs(total_time_by_second * 1e6 - (micros(end_time) - micros(start_time)))).toBeLessThanOrEqual(1);
      expect(Number(total_time_by_second.toFixed(6))).toBe(total_time_by_second);
    }
    // Real microseconds, not milliseconds padded with zeros; real sixth decimals, not thousandths.
    const times = seen.flatMap((s) => [s.start_time, s.end_time]);
    expect(times.filter((t) => !t.endsWith("000")).length).toBeGreaterThan(times.length / 2);
    expect(seen.filter((s) => Number(s.total_time_by_second.toFixed(3)) !== s.total_time_by_second).length).toBeGreaterThan(0);
  });
});
