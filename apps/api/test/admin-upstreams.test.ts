import { adminUpstreamsSchema } from "@llmq/contract";
import { type RedisConnection, RunQueue, type UpstreamParams, closeRedis, createRedis } from "@llmq/queue";
import { json } from "@llmq/testkit";
import { type TestStack, startTestStack } from "@llmq/stack";
import { createApiMetrics } from "../src/observability/api-metrics";
import { UpstreamStatus } from "../src/services/upstream-status";

/**
 * Issue 16, visible: GET /v1/admin/upstreams and the /metrics upstream gauges read the run queue's
 * upstream state (SNAPSHOT) as the workers leave it. The test drives the library itself (dispatch,
 * settle, report through RunQueue on the stack's Redis and prefix), then reads the route and /metrics.
 */

const MODEL = "llama-3.1-8b-instruct";
const MINUTE = 60_000;

// Three upstreams of one provider: `a` takes work, `b` will be paused by a 429, `c`'s breaker will open.
const MODELS = {
  providers: { fast: { type: "simulated", first_token_ms: 5, tokens_per_second: 2000 } },
  models: [
    { id: "gemma-7b", provider: "fast", concurrency: 8 },
    {
      id: MODEL,
      concurrency: 4,
      upstreams: [
        { provider: "fast", name: "a", weight: 3, max_concurrency: 4, requests_per_minute: 100, tokens_per_minute: 10_000 },
        { provider: "fast", name: "b", upstream_model: "llama-b", max_concurrency: 2 },
        { provider: "fast", name: "c", circuit: { failures: 2, window_ms: MINUTE, cooldown_ms: MINUTE } },
      ],
      fallbacks: ["gemma-7b"],
    },
  ],
};
// The same upstreams as the worker passes them to the run queue (ModelConfig.upstreams maps 1:1).
const UPS: UpstreamParams[] = [
  { name: "a", weight: 3, maxConcurrency: 4, requestsPerMinute: 100, tokensPerMinute: 10_000 },
  { name: "b", maxConcurrency: 2 },
  { name: "c", circuit: { failures: 2, windowMs: MINUTE, cooldownMs: MINUTE } },
];

let stack: TestStack;
let redis: RedisConnection;

beforeAll(async () => {
  stack = await startTestStack({ worker: false, models: MODELS });
  redis = createRedis(stack.env.REDIS_URL!, { blocking: true });
});
afterAll(async () => {
  await closeRedis(redis);
  await stack?.close();
});

async function upstreams() {
  const res = await stack.request("/v1/admin/upstreams");
  expect(res.status).toBe(200);
  return adminUpstreamsSchema.parse(await json(res)).data.data.models;
}

/** One sample of Prometheus text by name and labels (in any order), or undefined. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${name}{`) && Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`)) && l.split("{")[1]!.split(",").length === Object.keys(labels).length);
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(" ") + 1));
}

describe("GET /v1/admin/upstreams", () => {
  let queue: RunQueue;
  let before: number;

  beforeAll(async () => {
    queue = new RunQueue(redis, { prefix: stack.env.REDIS_PREFIX!, queueName: stack.api.deps.models.byId.get(MODEL)!.queueName });
    before = Date.now();
    // b answers a 429 with Retry-After 60 s; c fails twice in its window: its breaker opens for a minute.
    await queue.upstreams.report(UPS[1]!, { kind: "rate_limited", retryAfterMs: MINUTE });
    await queue.upstreams.report(UPS[2]!, { kind: "fail", error: "connection" });
    await queue.upstreams.report(UPS[2]!, { kind: "fail", error: "connection" });
    // Three tasks of 100 estimated tokens: all go to a (the only one with room); one ends using 40.
    await queue.enqueueMany(
      ["t1", "t2", "t3"].map((id) => ({ id, tenant: "k1", weight: 1, tier: "default" as const, estimatedTokens: 100, queueDeadline: null, requestCopy: null })),
    );
    const dispatched = await queue.dispatch("w1", 3, MINUTE, undefined, UPS);
    expect(dispatched.tasks.map((t) => t.upstream)).toEqual(["a", "a", "a"]);
    await queue.upstreams.report(UPS[0]!, { kind: "ok", latencyMs: 120 });
    await queue.upstreams.report(UPS[0]!, { kind: "ok", latencyMs: 480 });
    expect(await queue.settle(dispatched.tasks[0]!.id, dispatched.token, 40)).toBe(true);
  });

  it("shows each upstream's state, in flight, minute budgets, latency and errors as the run queue holds them", async () => {
    const models = await upstreams();
    const after = Date.now();
    expect(models.map((m) => m.model)).toEqual(["gemma-7b", MODEL]);
    // A model with `provider` alone is one upstream named after it, untouched.
    expect(models[0]!.upstreams).toEqual([
      expect.objectContaining({ name: "fast", provider: "fast", upstream_model: "gemma-7b", state: "ok", in_flight: 0, max_concurrency: null, latency_ms: null, errors_5m: {}, last_error: null }),
    ]);
    const llama = models[1]!;
    expect(llama.fallbacks).toEqual(["gemma-7b"]);
    const [a, b, c] = llama.upstreams;
    expect(a).toEqual({
      name: "a",
      provider: "fast",
      upstream_model: MODEL,
      weight: 3,
      state: "ok",
      paused_until: null,
      pause_kind: null,
      cooldown_until: null,
      in_flight: 2,
      max_concurrency: 4,
      requests_minute: { used: 3, limit: 100 },
      tokens_minute: { used: 240, limit: 10_000 }, // 3 x 100 reserved, one settled at 40
      latency_ms: { p50: expect.any(Number), p95: 480 },
      errors_5m: {},
      last_error: null,
    });
    expect([120, 480]).toContain(a!.latency_ms!.p50);
    expect(b).toMatchObject({ name: "b", upstream_model: "llama-b", state: "paused", pause_kind: "rate_limited", cooldown_until: null, in_flight: 0, max_concurrency: 2, errors_5m: { rate_limited: 1 }, last_error: { kind: "rate_limited" } });
    expect(b!.paused_until!).toBeGreaterThanOrEqual(before + MINUTE - 1_000);
    expect(b!.paused_until!).toBeLessThanOrEqual(after + MINUTE);
    expect(b!.last_error!.at).toBeGreaterThanOrEqual(before - 1_000);
    expect(c).toMatchObject({ name: "c", state: "open", paused_until: null, pause_kind: null, in_flight: 0, requests_minute: { used: 0, limit: null }, errors_5m: { connection: 2 }, last_error: { kind: "connection" } });
    expect(c!.cooldown_until!).toBeGreaterThanOrEqual(before + MINUTE - 1_000);
    expect(c!.cooldown_until!).toBeLessThanOrEqual(after + MINUTE);
  });

  it("is reserved to the admin: another key gets 403 in the Flexstack dialect", async () => {
    const created = await json(await stack.request("/v1/admin/keys", { method: "POST", json: { name: "not-admin" } }));
    const res = await stack.request("/v1/admin/upstreams", { key: created.data.data.key });
    expect(res.status).toBe(403);
    const body = await json(res);
    expect(body).toMatchObject({ status: "error", data: null });
    expect(JSON.stringify(body)).toContain("permission_denied");
    expect((await stack.request("/v1/admin/upstreams", { key: "sk-unknown-0123456789abcdef" })).status).toBe(401);
  });

  it("is declared in /openapi.json with its response schema", async () => {
    const doc = await json(await stack.request("/openapi.json"));
    const op = doc.paths["/v1/admin/upstreams"].get;
    expect(Object.keys(op.responses)).toEqual(expect.arrayContaining(["200", "401", "403"]));
    expect(JSON.stringify(op.responses["200"])).toContain("AdminUpstreams");
  });

  it("/metrics: per (model, upstream) the state (1 for the current of four), in flight, requests and tokens of the minute", async () => {
    const res = await stack.request("/metrics");
    expect(res.status).toBe(200);
    const text = await res.text();
    const at = (upstream: string, extra: Record<string, string> = {}) => ({ model: MODEL, upstream, ...extra });
    const states = (upstream: string) => Object.fromEntries(["ok", "paused", "open", "half_open"].map((state) => [state, sample(text, "llmq_upstream_state", at(upstream, { state }))]));
    expect(states("a")).toEqual({ ok: 1, paused: 0, open: 0, half_open: 0 });
    expect(states("b")).toEqual({ ok: 0, paused: 1, open: 0, half_open: 0 });
    expect(states("c")).toEqual({ ok: 0, paused: 0, open: 1, half_open: 0 });
    expect(sample(text, "llmq_upstream_state", { model: "gemma-7b", upstream: "fast", state: "ok" })).toBe(1);
    expect(sample(text, "llmq_upstream_in_flight", at("a"))).toBe(2);
    expect(sample(text, "llmq_upstream_in_flight", at("b"))).toBe(0);
    expect(sample(text, "llmq_upstream_requests_minute", at("a"))).toBe(3);
    expect(sample(text, "llmq_upstream_tokens_minute", at("a"))).toBe(240);
    expect(sample(text, "llmq_upstream_tokens_minute", at("c"))).toBe(0);
  });

  it("/metrics reads the upstreams once per scrape (one SNAPSHOT per model), whatever the number of gauges", async () => {
    const { models } = stack.api.deps;
    const status = new UpstreamStatus(redis, stack.env.REDIS_PREFIX!, models);
    let readings = 0;
    const counted = { snapshot: () => (readings++, status.snapshot()) };
    const metrics = createApiMetrics({ models, taskStats: stack.api.deps.taskStats, queues: stack.api.deps.queues, upstreams: counted });
    const text = await metrics.registry.metrics();
    expect(readings).toBe(1);
    expect(sample(text, "llmq_upstream_in_flight", { model: MODEL, upstream: "a" })).toBe(2);
  });
});
