// Issue 16, failover: a model on several upstreams, through the whole stack (API -> run queue -> worker ->
// provider -> real HTTP fixtures). An upstream that refuses connections, answers 500, answers 429 or runs
// out of quota never fails a task and never spends one of its tries: the request goes on another upstream
// before its first token, or the task waits (inside its attempt for a short pause, back in its queue for a
// long one) and nothing is emitted twice.
import net from "node:net";
import type { TaskRecord } from "@llmq/db";
import type { TaskEvent } from "@llmq/queue";
import { type OpenAIFixture, eventually, json, startOpenAIFixture } from "@llmq/testkit";
import { type TestStack, startTestStack } from "@llmq/stack";

let good: OpenAIFixture;
let failing: OpenAIFixture;
let flaky: OpenAIFixture;
let limited: OpenAIFixture;
let slowLimited: OpenAIFixture;
let quota: OpenAIFixture;
let stack: TestStack;
let closedPort: number;

const openai = (fixture: OpenAIFixture) => ({ type: "openai", base_url: fixture.url, api_key: "fixture-key-0123", timeout_ms: 4_000 });

beforeAll(async () => {
  [good, failing, flaky, limited, slowLimited, quota] = await Promise.all([
    startOpenAIFixture(),
    startOpenAIFixture(),
    startOpenAIFixture(),
    startOpenAIFixture(),
    startOpenAIFixture(),
    startOpenAIFixture(),
  ]);
  // A port nobody listens on: connections are refused.
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  closedPort = (probe.address() as net.AddressInfo).port;
  await new Promise((resolve) => probe.close(resolve));
  failing.setBehaviour({ status: 500 });
  stack = await startTestStack({
    // The sweeper expires a waiting task at its queue deadline: look often.
    env: { WORKER_METRICS_PORT: "0", SWEEP_INTERVAL_MS: "500" },
    models: {
      providers: {
        nowhere: { type: "openai", base_url: `http://127.0.0.1:${closedPort}/v1`, api_key: "k", timeout_ms: 1_500 },
        good: openai(good),
        failing: openai(failing),
        flaky: openai(flaky),
        limited: openai(limited),
        "slow-limited": openai(slowLimited),
        quota: openai(quota),
      },
      models: [
        // The first listed wins ties; under load the run queue spreads tasks by least in flight.
        { id: "refused-model", concurrency: 4, upstreams: [{ provider: "nowhere" }, { provider: "good", upstream_model: "good-model" }] },
        { id: "error-model", concurrency: 4, upstreams: [{ provider: "failing" }, { provider: "good" }] },
        {
          id: "circuit-model",
          concurrency: 4,
          upstreams: [{ provider: "flaky", circuit: { failures: 3, window_ms: 30_000, cooldown_ms: 1_500 } }, { provider: "good" }],
        },
        { id: "limited-model", provider: "limited", concurrency: 3 },
        { id: "slow-limited-model", provider: "slow-limited", concurrency: 2 },
        { id: "quota-model", concurrency: 2, upstreams: [{ provider: "quota", quota_pause_ms: 3_000 }] },
        { id: "quota-failover-model", concurrency: 2, upstreams: [{ provider: "quota", name: "quota-b", quota_pause_ms: 60_000 }, { provider: "good" }] },
        { id: "quota-ttl-model", concurrency: 2, upstreams: [{ provider: "quota", name: "quota-c", quota_pause_ms: 60_000 }] },
      ],
    },
  });
});
afterAll(async () => {
  await stack?.close();
  await Promise.all([good, failing, flaky, limited, slowLimited, quota].map((fixture) => fixture?.close()));
});

function submit(model: string, content: string, extra: Record<string, unknown> = {}): Promise<string> {
  return stack.submitAsync({ messages: [{ role: "user", content }], configs: { model, max_tokens: 50, temperature: 0 }, ...extra });
}

const final = (taskId: string, timeoutMs = 30_000) => stack.finalTask(taskId, { timeoutMs });

async function eventsOf(taskId: string): Promise<TaskEvent[]> {
  const entries = await eventually(async () => {
    const read = await stack.api.deps.log.readAfter(taskId, "0", 10_000);
    return read.some((entry) => entry.event.type === "final") ? read : undefined;
  }, { what: `the final event of ${taskId}` });
  return entries.map((entry) => entry.event);
}

/** Completed on its first attempt, no retry, its text streamed exactly once (each token once, in order). */
async function expectServedOnce(taskId: string, content: string): Promise<TaskRecord> {
  const task = await final(taskId);
  const label = `${taskId}: ${task.status} ${task.errorCode ?? ""} ${task.errorMessage ?? ""}`;
  expect({ label, status: task.status, attempts: task.attempts, response: task.response }).toEqual({ label, status: "COMPLETED", attempts: 1, response: `Echo: ${content}` });
  const events = await eventsOf(taskId);
  expect(events.filter((event) => event.type === "status" && event.error)).toEqual([]);
  const tokens = events.flatMap((event) => (event.type === "token" ? [event.delta] : []));
  expect(tokens.join("")).toBe(`Echo: ${content}`);
  return task;
}

async function workerMetrics(): Promise<string> {
  return (await fetch(stack.worker!.metricsUrl!)).text();
}

function sample(text: string, line: string): number {
  const found = text.split("\n").find((l) => l.startsWith(`${line} `));
  return found ? Number(found.slice(line.length + 1)) : 0;
}

async function upstreamState(model: string, name: string): Promise<string> {
  const body = await json(await stack.request("/v1/admin/upstreams"));
  const entry = (body.data.data.models as Array<{ model: string; upstreams: Array<{ name: string; state: string }> }>).find((m) => m.model === model)!;
  return entry.upstreams.find((u) => u.name === name)!.state;
}

const completions = (fixture: OpenAIFixture) => fixture.requests.filter((r) => r.path === "/v1/chat/completions");

describe("failover between upstreams before the first token", () => {
  it("an upstream refusing connections: every task completes through the other on its first attempt", async () => {
    const before = completions(good).length;
    const contents = Array.from({ length: 6 }, (_, i) => `refused ${i}`);
    const ids = await Promise.all(contents.map((content) => submit("refused-model", content)));
    for (const [i, id] of ids.entries()) await expectServedOnce(id, contents[i]!);
    // The row records what served each task (choice 0's upstream; the task's own model until fallbacks),
    // and the answers name that model.
    for (const id of ids) {
      expect(await stack.api.deps.tasks.findById(id)).toMatchObject({ upstream: "good", servedModel: "refused-model" });
      expect((await json(await stack.request(`/v1/ai/tasks/${id}`))).data.configs.model).toBe("refused-model");
    }
    const chat = await json(await stack.request("/v1/chat/completions", { method: "POST", json: { model: "refused-model", messages: [{ role: "user", content: "refused chat" }] } }));
    expect({ model: chat.model, content: chat.choices[0].message.content }).toEqual({ model: "refused-model", content: "Echo: refused chat" });
    const served = completions(good).slice(before).filter((r) => (r.body as { model: string }).model === "good-model");
    expect(served.map((r) => r.status)).toEqual(Array(7).fill(200));
    // Every refused request moved to `good` (at least the first task, alone on `nowhere`, was refused).
    const metrics = await workerMetrics();
    const refused = sample(metrics, 'llmq_upstream_requests_total{model="refused-model",upstream="nowhere",outcome="connection"}');
    expect(refused).toBeGreaterThanOrEqual(1);
    expect(sample(metrics, 'llmq_upstream_failovers_total{model="refused-model",from="nowhere",to="good"}')).toBe(refused);
    expect(sample(metrics, 'llmq_upstream_requests_total{model="refused-model",upstream="good",outcome="ok"}')).toBe(7);
  });

  it("an upstream answering 500: every task completes through the other on its first attempt", async () => {
    const contents = Array.from({ length: 6 }, (_, i) => `five hundred ${i}`);
    const ids = await Promise.all(contents.map((content) => submit("error-model", content)));
    for (const [i, id] of ids.entries()) await expectServedOnce(id, contents[i]!);
    const failed = completions(failing).map((r) => r.status);
    expect(failed.length).toBeGreaterThanOrEqual(1);
    expect(failed).toEqual(Array(failed.length).fill(500));
    expect(sample(await workerMetrics(), 'llmq_upstream_failovers_total{model="error-model",from="failing",to="good"}')).toBe(failed.length);
  });

  it("the circuit opens after 3 failures in its window and closes after the cooldown's probe succeeds", async () => {
    flaky.setBehaviour({ status: 500 });
    // One at a time: the first three each fail on `flaky` (ties go to the first listed) and go on `good`.
    for (let i = 0; i < 3; i++) await expectServedOnce(await submit("circuit-model", `circuit ${i}`), `circuit ${i}`);
    expect(completions(flaky).map((r) => r.status)).toEqual([500, 500, 500]);
    expect(await upstreamState("circuit-model", "flaky")).toBe("open");
    expect(sample(await workerMetrics(), 'llmq_upstream_breaker_transitions_total{model="circuit-model",upstream="flaky",to="open"}')).toBe(1);
    // Open: the next task goes straight to `good`; `flaky` sees nothing.
    await expectServedOnce(await submit("circuit-model", "circuit open"), "circuit open");
    expect(completions(flaky)).toHaveLength(3);

    // Healed; after the cooldown one task probes it, succeeds, and the breaker closes.
    flaky.setBehaviour({});
    await eventually(async () => ((await upstreamState("circuit-model", "flaky")) === "half_open" ? true : undefined), { timeoutMs: 5_000, what: "half-open after the cooldown" });
    const probe = await expectServedOnce(await submit("circuit-model", "circuit probe"), "circuit probe");
    expect(completions(flaky).map((r) => r.status)).toEqual([500, 500, 500, 200]);
    expect(probe.upstream).toBe("flaky");
    expect(await upstreamState("circuit-model", "flaky")).toBe("ok");
    expect(sample(await workerMetrics(), 'llmq_upstream_breaker_transitions_total{model="circuit-model",upstream="flaky",to="ok"}')).toBe(1);
  });
});

describe("pauses: 429 and insufficient_quota", () => {
  it("a burst of 429 Retry-After: 2 pauses every task of the upstream; none fails, none spends a try, nothing is sent during the pause", async () => {
    limited.setBehaviour({ status: 429, retryAfter: "2", failFirst: 3 });
    const contents = Array.from({ length: 6 }, (_, i) => `limited ${i}`);
    const ids = await Promise.all(contents.map((content) => submit("limited-model", content)));
    for (const [i, id] of ids.entries()) await expectServedOnce(id, contents[i]!);
    const requests = completions(limited);
    const refused = requests.filter((r) => r.status === 429);
    expect(refused).toHaveLength(3);
    expect(requests.filter((r) => r.status === 200)).toHaveLength(6);
    // The first 429 paused the upstream for 2 s: nothing reached it then (the burst's own victims were sent with it).
    const pausedAt = refused[0]!.at;
    const during = requests.filter((r) => r.at > pausedAt + 100 && r.at < pausedAt + 2_000);
    expect(during.map((r) => ({ at: r.at - pausedAt, status: r.status }))).toEqual([]);
    expect(sample(await workerMetrics(), 'llmq_upstream_pauses_total{model="limited-model",upstream="limited",kind="rate_limited"}')).toBeGreaterThanOrEqual(1);
  });

  it("a pause longer than scheduling.pause_hold_max_ms hands the tasks back in their place: no try spent, attempts unchanged", async () => {
    slowLimited.setBehaviour({ status: 429, retryAfter: "7", failFirst: 2 });
    const contents = ["released 0", "released 1"];
    const ids = await Promise.all(contents.map((content) => submit("slow-limited-model", content)));
    for (const [i, id] of ids.entries()) await expectServedOnce(id, contents[i]!);
    const requests = completions(slowLimited);
    const contentOf = (r: (typeof requests)[number]) => (r.body as { messages: Array<{ content: string }> }).messages.at(-1)!.content;
    for (const [i, id] of ids.entries()) {
      // Each task refused once was handed back once: RUNNING, PENDING (no error), RUNNING again with the
      // same attempt number (the handed-back attempt is taken back), COMPLETED.
      const refusals = requests.filter((r) => r.status === 429 && contentOf(r) === contents[i]).length;
      const statuses = (await eventsOf(id)).flatMap((event) => (event.type === "status" ? [`${event.status}:${event.attempt}`] : []));
      expect({ id, statuses }).toEqual({ id, statuses: [...Array(refusals).fill(["RUNNING:1", "PENDING:1"]).flat(), "RUNNING:1", "COMPLETED:1"] });
    }
    expect(requests.filter((r) => r.status === 429)).toHaveLength(2);
    const pausedAt = requests.find((r) => r.status === 429)!.at;
    expect(requests.filter((r) => r.at > pausedAt + 100 && r.at < pausedAt + 7_000)).toEqual([]);
    expect(requests.filter((r) => r.status === 200)).toHaveLength(2);
  }, 30_000);

  it("insufficient_quota: the task waits for the quota pause and completes after it (no failure)", async () => {
    quota.setBehaviour({ insufficientQuota: true, failFirst: 1 });
    const id = await submit("quota-model", "quota wait");
    const task = await expectServedOnce(id, "quota wait");
    const requests = completions(quota);
    expect(requests.map((r) => r.status)).toEqual([429, 200]);
    expect(requests[1]!.at - requests[0]!.at).toBeGreaterThanOrEqual(3_000);
    expect(task.errorCode).toBeNull();
    expect(sample(await workerMetrics(), 'llmq_upstream_pauses_total{model="quota-model",upstream="quota",kind="quota"}')).toBe(1);
  });

  it("insufficient_quota on one upstream: the task completes at once on another", async () => {
    quota.setBehaviour({ insufficientQuota: true });
    const before = completions(quota).length;
    await expectServedOnce(await submit("quota-failover-model", "quota elsewhere"), "quota elsewhere");
    expect(completions(quota).slice(before).map((r) => r.status)).toEqual([429]);
  });

  it("insufficient_quota with no other upstream: the task waits until its own queue TTL and expires (it never fails)", async () => {
    quota.setBehaviour({ insufficientQuota: true });
    const id = await submit("quota-ttl-model", "quota ttl", { queue_ttl_seconds: 2 });
    const task = await final(id, 40_000);
    expect({ status: task.status, code: task.errorCode, attempts: task.attempts }).toEqual({ status: "EXPIRED", code: "queue_ttl_exceeded", attempts: 0 });
  }, 60_000);
});
