import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createApp } from "@llmq/api";
import { type OpenAIFixture, eventually, json, startOpenAIFixture } from "@llmq/testkit";
import { type TestStack, startTestStack } from "@llmq/stack";
import type { RunningWorker } from "@llmq/worker";

const METRICS_TOKEN = "metrics_0123456789abcdef0123456789";

/** `GET /metrics` with `Authorization: Bearer <token>` (METRICS_TOKEN by default; null: no header). */
const scrape = (base: string, token: string | null = METRICS_TOKEN) => fetch(`${base}/metrics`, { headers: token === null ? {} : { authorization: `Bearer ${token}` } });

let fixture: OpenAIFixture;
let stack: TestStack;
let worker: RunningWorker;

const request = (model: string, content = "Hello, have a good day!", maxTokens = 16) => ({
  messages: [{ role: "user", content }],
  configs: { model, max_tokens: maxTokens, top_k: 10, top_p: 0.9, temperature: 0 },
});

/** One sample's value from Prometheus text, by its exact name and labels as printed (`name{a="b"}`). */
function sample(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

beforeAll(async () => {
  fixture = await startOpenAIFixture({ models: ["upstream-model"] });
  stack = await startTestStack({
    worker: false,
    env: { METRICS_TOKEN },
    models: {
      providers: {
        fast: { type: "simulated", first_token_ms: 5, tokens_per_second: 2000 },
        slow: { type: "simulated", first_token_ms: 5, tokens_per_second: 40 },
        upstream: { type: "openai", base_url: fixture.url, api_key: "fixture-key", timeout_ms: 10_000 },
      },
      models: [
        { id: "gemma-7b", provider: "fast", concurrency: 8 },
        { id: "llama-3.1-8b-instruct", provider: "slow", concurrency: 2 },
        { id: "upstream-model", provider: "upstream", concurrency: 2 },
      ],
    },
  });
  // This worker leaves llama-3.1-8b-instruct alone, so its tasks wait in line for the queue-position tests.
  worker = await stack.startWorker({ WORKER_MODELS: "gemma-7b,upstream-model", WORKER_METRICS_PORT: "0" });
});
afterAll(async () => {
  await stack.close();
  await fixture.close();
});

describe("GET /metrics", () => {
  it("reports tasks, queue depth, HTTP latency by route pattern and the event loop, after real tasks ran", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await stack.request("/v1/ai/text_completion", { method: "POST", json: request("gemma-7b") });
      expect(res.status).toBe(200);
      const body = await json(res);
      expect(body.data.data.status).toBe("COMPLETED");
      ids.push(body.data.data.task_id);
    }
    for (const id of ids) expect((await stack.request(`/v1/ai/tasks/${id}`)).status).toBe(200);

    const res = await scrape(stack.url);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/plain");
    const text = await res.text();
    // Finished tasks are counted by the process that ends them (here the worker), not read from the table.
    expect(text).toContain("# TYPE llmq_tasks_open gauge");
    expect(text).toContain("# TYPE llmq_tasks_ended_total counter");
    expect(text).not.toMatch(/^llmq_tasks_open\{model="gemma-7b"/m);
    const workerText = await (await fetch(worker.metricsUrl!)).text();
    expect(sample(workerText, 'llmq_tasks_ended_total{model="gemma-7b",status="COMPLETED"}')).toBe(3);
    expect(sample(text, 'llmq_queue_jobs{queue="llm_gemma_7b_queue",model="gemma-7b",state="waiting"}')).toBe(0);
    expect(sample(text, 'llmq_queue_jobs{queue="llm_gemma_7b_queue",model="gemma-7b",state="active"}')).toBe(0);
    // Route patterns, never raw ids: three polls of three different tasks are one series.
    expect(sample(text, 'llmq_http_request_duration_seconds_count{method="POST",route="/v1/ai/text_completion",status="200"}')).toBe(3);
    expect(sample(text, 'llmq_http_request_duration_seconds_count{method="GET",route="/v1/ai/tasks/{taskId}",status="200"}')).toBe(3);
    expect(sample(text, 'llmq_http_request_duration_seconds_sum{method="POST",route="/v1/ai/text_completion",status="200"}')).toBeGreaterThan(0);
    for (const id of ids) expect(text).not.toContain(id);
    expect(sample(text, "nodejs_eventloop_lag_seconds")).toBeGreaterThanOrEqual(0);
    expect(sample(text, "process_resident_memory_bytes")).toBeGreaterThan(0);
  });

  it("labels unknown routes as unmatched", async () => {
    expect((await stack.request("/v1/ai/no_such_thing/123")).status).toBe(404);
    const text = await (await scrape(stack.url)).text();
    expect(sample(text, 'llmq_http_requests_total{method="GET",route="unmatched",status="404"}')).toBe(1);
  });
});

// Issue 11, item 11: /metrics answered anyone, ran a GROUP BY over every task on every scrape, and took
// any HTTP method as a label value.
describe("GET /metrics is for Prometheus only, cheap to scrape, and keeps its series bounded", () => {
  it("refuses a scrape without a valid bearer (401 in the Flexstack dialect, nothing leaked); takes METRICS_TOKEN and the admin key", async () => {
    const created = await json(await stack.request("/v1/admin/keys", { method: "POST", json: { name: "not-metrics" } }));
    for (const token of [null, "wrong-token-0123456789abcdef", created.data.data.key as string, `${METRICS_TOKEN}x`]) {
      const res = await scrape(stack.url, token);
      expect(res.status).toBe(401);
      expect(res.headers.get("www-authenticate")).toMatch(/^Bearer /);
      const text = await res.text();
      expect(text).not.toContain("llmq_");
      const body = JSON.parse(text);
      expect(body).toMatchObject({ data: null, status: "error", errors: [{ code: "invalid_api_key" }] });
    }
    const basic = await fetch(`${stack.url}/metrics`, { headers: { authorization: `Basic ${Buffer.from(`prometheus:${METRICS_TOKEN}`).toString("base64")}` } });
    expect(basic.status).toBe(401);
    for (const token of [METRICS_TOKEN, stack.adminKey]) {
      const res = await scrape(stack.url, token);
      expect(res.status).toBe(200);
      expect(await res.text()).toContain("# TYPE llmq_tasks_open gauge");
    }
  });

  it("100 scrapes, 50 of them at once, run the task-count query at most twice: cached, and concurrent scrapes share one query", async () => {
    const deps = stack.api.deps;
    let queries = 0;
    const taskStats = Object.create(deps.taskStats) as typeof deps.taskStats;
    taskStats.openCountsByModelAndStatus = () => {
      queries += 1;
      return deps.taskStats.openCountsByModelAndStatus();
    };
    const server: Server = createApp({ ...deps, taskStats }).listen(0, "127.0.0.1");
    await new Promise<void>((resolve) => server.once("listening", () => resolve()));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const texts = await Promise.all(Array.from({ length: 50 }, async () => (await scrape(base)).text()));
      for (let i = 0; i < 50; i++) texts.push(await (await scrape(base)).text());
      expect(queries).toBeGreaterThanOrEqual(1);
      expect(queries).toBeLessThanOrEqual(2);
      const pending = texts.map((text) => sample(text, 'llmq_tasks_open{model="llama-3.1-8b-instruct",status="PENDING"}') ?? 0);
      expect(new Set(pending).size).toBe(1);
    } finally {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    }
  });

  // Issue 17: the count per model and status was a parallel scan of the whole table (3-9 s at 10 M rows),
  // re-run every 15 s by each API process. Open tasks are counted from tasks_open_idx; finished ones as
  // each process ends them.
  it("counts open tasks exactly, and the tasks this process ended by model and final status", async () => {
    const server: Server = createApp(stack.api.deps).listen(0, "127.0.0.1");
    await new Promise<void>((resolve) => server.once("listening", () => resolve()));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const call = (path: string, init: { method?: string; json?: unknown } = {}) =>
      fetch(`${base}${path}`, {
        method: init.method ?? "GET",
        headers: { authorization: `Bearer ${stack.adminKey}`, "content-type": "application/json" },
        body: init.json === undefined ? undefined : JSON.stringify(init.json),
      });
    try {
      // No worker serves llama-3.1-8b-instruct: these wait, PENDING.
      const ids: string[] = [];
      for (let i = 0; i < 2; i++) {
        const res = await call("/v1/ai/text_completion?async=true", { method: "POST", json: request("llama-3.1-8b-instruct") });
        expect(res.status).toBeLessThan(300);
        ids.push((await json(res)).data.data.task_id);
      }
      const open = await stack.api.deps.db.$queryRaw<{ model: string; status: string; n: number }[]>`
        SELECT model, status::text AS status, count(*)::int AS n FROM tasks WHERE status IN ('PENDING', 'RUNNING') GROUP BY 1, 2`;
      const first = await (await scrape(base)).text();
      const reported = [...first.matchAll(/^llmq_tasks_open\{model="([^"]*)",status="([^"]*)"\} (\d+)$/gm)].map((m) => ({ model: m[1], status: m[2], n: Number(m[3]) }));
      const byKey = (rows: { model?: string; status?: string }[]) => [...rows].sort((a, b) => `${a.model}${a.status}`.localeCompare(`${b.model}${b.status}`));
      expect(byKey(reported)).toEqual(byKey(open));
      expect(sample(first, 'llmq_tasks_open{model="llama-3.1-8b-instruct",status="PENDING"}')).toBeGreaterThanOrEqual(2);
      // No finished status in the open gauge, and none of the old full count's series.
      expect(first).not.toMatch(/^llmq_tasks_open\{[^}]*status="(COMPLETED|FAILED|CANCELLED|EXPIRED)"/m);
      expect(first).not.toMatch(/^llmq_tasks\{/m);
      expect(sample(first, 'llmq_tasks_ended_total{model="llama-3.1-8b-instruct",status="CANCELLED"}')).toBeUndefined();

      for (const id of ids) expect((await call(`/v1/ai/tasks/${id}/cancel`, { method: "POST" })).status).toBe(200);
      const second = await (await scrape(base)).text();
      expect(sample(second, 'llmq_tasks_ended_total{model="llama-3.1-8b-instruct",status="CANCELLED"}')).toBe(2);
    } finally {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    }
  });

  it("labels methods other than the standard ones as one `other` value", async () => {
    const unusual = ["PROPFIND", "MKCOL", "PURGE", "LOCK", "SEARCH", "REPORT"];
    for (const method of unusual) expect((await fetch(`${stack.url}/v1/ai/tasks`, { method })).status).toBe(401);
    // A token Node's HTTP parser does not know is refused before the app, and counted nowhere.
    expect((await fetch(`${stack.url}/v1/ai/tasks`, { method: "BREW" }).then((res) => res.status, () => 400))).toBe(400);
    const text = await (await scrape(stack.url)).text();
    // Refused by authentication before any route matched: the route label is Express's matched route, so none.
    expect(sample(text, 'llmq_http_requests_total{method="other",route="unmatched",status="401"}')).toBe(unusual.length);
    const methods = new Set([...text.matchAll(/^llmq_http_requests_total\{method="([^"]*)"/gm)].map((match) => match[1]));
    expect([...methods].filter((method) => !["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other"].includes(method!))).toEqual([]);
    expect(methods).toContain("other");
  });
});

describe("worker metrics (WORKER_METRICS_PORT)", () => {
  it("serves queue wait, time to first token and run time per model, and provider errors by class", async () => {
    expect(worker.metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    const before = await (await fetch(worker.metricsUrl!)).text();
    const completedBefore = sample(before, 'llmq_task_duration_seconds_count{model="gemma-7b",outcome="ok"}') ?? 0;

    for (let i = 0; i < 2; i++) {
      const body = await json(await stack.request("/v1/ai/text_completion", { method: "POST", json: request("gemma-7b") }));
      expect(body.data.data.status).toBe("COMPLETED");
    }
    // A 400 from the upstream fails the task at once: one provider error, not retried.
    const failed = await json(await stack.request("/v1/ai/text_completion", { method: "POST", json: request("upstream-model", "[[fixture:status=400]] hi") }));
    expect(failed.data.data.status).toBe("FAILED");

    // The worker records a task's run after the engine's call that ended it returns, and a waited answer
    // can come (from the final event) a moment before: read once the failure is in.
    const text = await eventually(async () => {
      const body = await (await fetch(worker.metricsUrl!)).text();
      return sample(body, 'llmq_task_duration_seconds_count{model="upstream-model",outcome="error"}') === undefined ? undefined : body;
    }, { what: "the failed run recorded" });
    expect(sample(text, 'llmq_task_duration_seconds_count{model="gemma-7b",outcome="ok"}')).toBe(completedBefore + 2);
    // The tasks this worker ended, by model and final status (the API's llmq_tasks_ended_total has its cancels).
    expect(sample(text, 'llmq_tasks_ended_total{model="gemma-7b",status="COMPLETED"}')).toBe(completedBefore + 2);
    expect(sample(text, 'llmq_tasks_ended_total{model="upstream-model",status="FAILED"}')).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'llmq_task_queue_wait_seconds_count{model="gemma-7b"}')).toBe(completedBefore + 2);
    expect(sample(text, 'llmq_task_time_to_first_token_seconds_count{model="gemma-7b"}')).toBe(completedBefore + 2);
    expect(sample(text, 'llmq_task_time_to_first_token_seconds_sum{model="gemma-7b"}')).toBeGreaterThan(0);
    expect(sample(text, 'llmq_task_duration_seconds_count{model="upstream-model",outcome="error"}')).toBe(1);
    const errorLine = text.split("\n").find((line) => line.startsWith('llmq_provider_errors_total{model="upstream-model"'));
    // Each upstream of the model is counted on its own (`upstream`: the models file name).
    expect(errorLine).toMatch(/retryable="false",upstream="upstream"\} 1$/);
    expect(sample(text, "nodejs_eventloop_lag_seconds")).toBeGreaterThanOrEqual(0);
    expect((await fetch(worker.metricsUrl!.replace("/metrics", "/other"))).status).toBe(404);
  });
});

describe("request ids", () => {
  it("answers X-Request-Id, keeping the caller's own", async () => {
    const mine = await stack.request("/v1/ai/models", { headers: { "x-request-id": "trace-42.abc" } });
    expect(mine.headers.get("x-request-id")).toBe("trace-42.abc");
    const generated = await stack.request("/v1/ai/models", { headers: { "x-request-id": "bad id with spaces" } });
    expect(generated.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe("Bull Board at /admin/queues", () => {
  const basic = (password: string) => `Basic ${Buffer.from(`admin:${password}`).toString("base64")}`;

  it("asks a browser for the admin key and refuses anyone else", async () => {
    const anonymous = await fetch(`${stack.url}/admin/queues`);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get("www-authenticate")).toMatch(/^Basic realm="llmq admin"/);
    expect((await json(anonymous)).errors[0].code).toBe("invalid_api_key");

    const created = await json(await stack.request("/v1/admin/keys", { method: "POST", json: { name: "not-admin" } }));
    const userKey: string = created.data.data.key;
    expect(userKey).toEqual(expect.any(String));
    expect((await fetch(`${stack.url}/admin/queues`, { headers: { authorization: basic(userKey) } })).status).toBe(401);
    expect((await fetch(`${stack.url}/admin/queues`, { headers: { authorization: `Bearer ${userKey}` } })).status).toBe(401);
    expect((await fetch(`${stack.url}/admin/queues`, { headers: { authorization: basic("wrong-password-entirely") } })).status).toBe(401);
  });

  it("serves the board and its queue API to the admin, by Basic (browser) or Bearer", async () => {
    const page = await fetch(`${stack.url}/admin/queues`, { headers: { authorization: basic(stack.adminKey) } });
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toContain("text/html");
    expect(await page.text()).toContain("llmq queues");

    const api = await fetch(`${stack.url}/admin/queues/api/queues`, { headers: { authorization: `Bearer ${stack.adminKey}` } });
    expect(api.status).toBe(200);
    const names = ((await json(api)).queues as { name: string }[]).map((queue) => queue.name).sort();
    expect(names).toEqual(["llm_gemma_7b_queue", "llm_llama_3_1_8b_instruct_queue", "llm_upstream_model_queue", "llmq_batches"]);
  });
});

describe("queue position and ETA of a waiting task", () => {
  const data = async (taskId: string) => (await json(await stack.request(`/v1/ai/tasks/${taskId}`))).data.data;

  it("gives each PENDING task its place in line, and an ETA once the queue has run times to go by", async () => {
    const model = "llama-3.1-8b-instruct"; // no worker serves it yet
    const first = [await stack.submitAsync(request(model, "one", 8)), await stack.submitAsync(request(model, "two", 8))];
    const [a, b] = [await data(first[0]!), await data(first[1]!)];
    expect([a.status, a.queue_position, a.eta_seconds]).toEqual(["PENDING", 1, null]);
    expect([b.status, b.queue_position, b.eta_seconds]).toEqual(["PENDING", 2, null]);
    // The fields every client already reads are unchanged.
    expect(a).toMatchObject({ task_id: first[0], percent: 0, total_tasks: 1, response: "" });

    // A worker runs them (8 tokens at 40 tokens/s, about 0.2 s each), leaving run times on the queue.
    const served = await stack.startWorker({ WORKER_MODELS: model });
    await eventually(async () => ((await Promise.all(first.map(data))).every((task) => task.status === "COMPLETED") ? true : undefined), {
      what: "the first tasks to complete",
    });
    await served.close();

    const later = [];
    for (let i = 0; i < 5; i++) later.push(await stack.submitAsync(request(model, `later ${i}`, 8)));
    const estimates = await Promise.all(later.map(data));
    expect(estimates.map((task) => task.queue_position)).toEqual([1, 2, 3, 4, 5]);
    // Concurrency 2: the first two finish in one run time, the next two in two, the fifth in three.
    const run = estimates[0].eta_seconds as number;
    expect(run).toBeGreaterThan(0);
    const rounds = [1, 1, 2, 2, 3];
    estimates.forEach((task, i) => expect(Math.abs(task.eta_seconds - rounds[i]! * run)).toBeLessThanOrEqual(0.1 * rounds[i]! + 1e-9));

    const completed = await data(first[0]!);
    expect([completed.status, completed.queue_position, completed.eta_seconds]).toEqual(["COMPLETED", null, null]);
  });
});
