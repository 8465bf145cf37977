// Issue 16, fallbacks: "When every upstream of a model is open or the task would expire waiting, the
// model's fallbacks are tried in order; the task records the model that served it, and the response's
// model says so." Through the whole stack (API -> run queue -> worker -> provider -> real HTTP fixtures):
// a model whose upstreams are all down borrows its fallback's upstream, only while the fallback has
// nothing of its own waiting, and never on a fallback that cannot honour the task's request.
import net from "node:net";
import { type OpenAIFixture, eventually, json, startOpenAIFixture } from "@llmq/testkit";
import { type TestStack, startTestStack } from "@llmq/stack";

let backup: OpenAIFixture;
let limited: OpenAIFixture;
let slow: OpenAIFixture;
let failing: OpenAIFixture;
let stack: TestStack;
let closedPort: number;

const openai = (fixture: OpenAIFixture) => ({ type: "openai", base_url: fixture.url, api_key: "fixture-key-0123", timeout_ms: 4_000 });
// An upstream's breaker that opens at its first failure and stays open for the whole file.
const breaker = { failures: 1, window_ms: 60_000, cooldown_ms: 600_000 };
/** One request's time on the fallback's fixture (the first token waits this long). */
const REQUEST_MS = 300;

beforeAll(async () => {
  [backup, limited, slow, failing] = await Promise.all([startOpenAIFixture(), startOpenAIFixture(), startOpenAIFixture(), startOpenAIFixture()]);
  failing.setBehaviour({ status: 500 });
  // A port nobody listens on: connections are refused.
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  closedPort = (probe.address() as net.AddressInfo).port;
  await new Promise((resolve) => probe.close(resolve));
  backup.setBehaviour({ firstTokenDelayMs: REQUEST_MS });
  // Every request paused for a minute.
  limited.setBehaviour({ status: 429, retryAfter: "60" });
  // Each answer takes 3 s: its one slot stays full meanwhile.
  slow.setBehaviour({ firstTokenDelayMs: 3_000 });
  const nowhere = { type: "openai", base_url: `http://127.0.0.1:${closedPort}/v1`, api_key: "k", timeout_ms: 1_500 };
  stack = await startTestStack({
    // The sweeper expires a waiting task at its queue deadline: look often.
    env: { WORKER_METRICS_PORT: "0", SWEEP_INTERVAL_MS: "500" },
    models: {
      providers: { "down-a": nowhere, "down-b": nowhere, "down-c": nowhere, "down-d": nowhere, "down-e": nowhere, "down-f": nowhere, backup: openai(backup), limited: openai(limited), slow: openai(slow), failing: openai(failing) },
      models: [
        {
          id: "down-model",
          concurrency: 4,
          upstreams: [
            { provider: "down-a", circuit: breaker },
            { provider: "down-b", circuit: breaker },
          ],
          fallbacks: ["backup-model"],
        },
        // Its own tenants first: two at once on its upstream.
        { id: "backup-model", concurrency: 4, upstreams: [{ provider: "backup", upstream_model: "backup-upstream", max_concurrency: 2 }] },
        { id: "paused-model", concurrency: 2, provider: "limited", fallbacks: ["rescue-model"] },
        { id: "rescue-model", concurrency: 2, upstreams: [{ provider: "backup", name: "rescue-up", upstream_model: "rescue-upstream" }] },
        // Its fallback is the simulated provider, which cannot call tools.
        { id: "tools-model", concurrency: 2, upstreams: [{ provider: "down-c", circuit: breaker }], fallbacks: ["sim-model"] },
        { id: "sim-model", concurrency: 2, provider: "simulated" },
        // Its fallback's only upstream answers 500 (no breaker).
        { id: "lost-model", concurrency: 2, upstreams: [{ provider: "down-f", circuit: breaker }], fallbacks: ["failing-backup"] },
        { id: "failing-backup", concurrency: 2, provider: "failing" },
        // Healthy but full (one request at a time, 3 s each): only the expiry rescue borrows for it.
        { id: "full-model", concurrency: 2, upstreams: [{ provider: "slow", max_concurrency: 1 }], fallbacks: ["rescue-model"] },
        // Its fallback's first upstream refuses connections: the borrowed request fails over to the second.
        { id: "split-model", concurrency: 2, upstreams: [{ provider: "down-d", circuit: breaker }], fallbacks: ["split-backup"] },
        {
          id: "split-backup",
          concurrency: 2,
          upstreams: [
            { provider: "down-e", circuit: breaker },
            { provider: "backup", name: "split-good", upstream_model: "split-upstream" },
          ],
        },
      ],
    },
  });
});
afterAll(async () => {
  await stack?.close();
  await Promise.all([backup, limited, slow, failing].map((fixture) => fixture?.close()));
});

function submit(model: string, content: string, extra: Record<string, unknown> = {}): Promise<string> {
  return stack.submitAsync({ messages: [{ role: "user", content }], configs: { model, max_tokens: 50, temperature: 0 }, ...extra });
}

const final = (taskId: string, timeoutMs = 30_000) => stack.finalTask(taskId, { timeoutMs });

async function upstreamState(model: string, name: string): Promise<string> {
  const body = await json(await stack.request("/v1/admin/upstreams"));
  const entry = (body.data.data.models as Array<{ model: string; upstreams: Array<{ name: string; state: string }> }>).find((m) => m.model === model)!;
  return entry.upstreams.find((u) => u.name === name)!.state;
}

function sample(text: string, line: string): number {
  const found = text.split("\n").find((l) => l.startsWith(`${line} `));
  return found ? Number(found.slice(line.length + 1)) : 0;
}

/** Opens an upstream's breaker as its first failure would (its breaker opens at one failure). */
async function openBreaker(queueName: string, upstream: string): Promise<void> {
  const params = { name: upstream, circuit: { failures: breaker.failures, windowMs: breaker.window_ms, cooldownMs: breaker.cooldown_ms } };
  expect((await stack.api.deps.queues.runQueue(queueName).upstreams.report(params, { kind: "fail" })).state).toBe("open");
}

const completions = (fixture: OpenAIFixture, upstreamModel: string) =>
  fixture.requests.filter((r) => r.path === "/v1/chat/completions" && (r.body as { model: string }).model === upstreamModel);

describe("fallbacks", () => {
  it("a model whose upstreams are all down is served by its fallback, and says so; the fallback's own tasks go first", async () => {
    // Both upstreams of down-model fail once (refused) and their breakers open: the first task spends a try.
    const first = await submit("down-model", "opens the breakers");
    await eventually(async () => ((await upstreamState("down-model", "down-a")) === "open" && (await upstreamState("down-model", "down-b")) === "open" ? true : undefined), {
      what: "both breakers open",
    });
    const firstDone = await final(first);
    expect({ status: firstDone.status, servedModel: firstDone.servedModel, upstream: firstDone.upstream, response: firstDone.response }).toEqual({
      status: "COMPLETED",
      servedModel: "backup-model",
      upstream: "backup",
      response: "Echo: opens the breakers",
    });

    // The fallback's own tenants queue first (4 tasks, 2 at once on its upstream), then down-model's.
    const own = await Promise.all(Array.from({ length: 4 }, (_, i) => submit("backup-model", `own ${i}`)));
    const borrowed = await Promise.all(Array.from({ length: 4 }, (_, i) => submit("down-model", `borrowed ${i}`)));
    const ownDone = await Promise.all(own.map((id) => final(id)));
    const borrowedDone = await Promise.all(borrowed.map((id) => final(id)));
    for (const [i, task] of borrowedDone.entries()) {
      expect({ status: task.status, attempts: task.attempts, servedModel: task.servedModel, upstream: task.upstream, response: task.response }).toEqual({
        status: "COMPLETED",
        attempts: 1,
        servedModel: "backup-model",
        upstream: "backup",
        response: `Echo: borrowed ${i}`,
      });
    }
    for (const task of ownDone) expect({ status: task.status, servedModel: task.servedModel }).toEqual({ status: "COMPLETED", servedModel: "backup-model" });
    // The fallback lends only when nothing of its own waits: every one of its own tasks (all queued before
    // down-model's) started before any borrowed one did.
    const lastOwnStart = Math.max(...ownDone.map((task) => task.startedAt!.getTime()));
    const firstBorrowedStart = Math.min(...borrowedDone.map((task) => task.startedAt!.getTime()));
    expect(firstBorrowedStart).toBeGreaterThanOrEqual(lastOwnStart);

    // The answers name the model that served: the task dialect's configs.model, OpenAI's model.
    for (const id of borrowed) expect((await json(await stack.request(`/v1/ai/tasks/${id}`))).data.configs.model).toBe("backup-model");
    const chat = await json(await stack.request("/v1/chat/completions", { method: "POST", json: { model: "down-model", messages: [{ role: "user", content: "borrowed chat" }] } }));
    expect({ model: chat.model, content: chat.choices[0].message.content }).toEqual({ model: "backup-model", content: "Echo: borrowed chat" });
    const accepted = await json(
      await stack.request("/v1/chat/completions", { method: "POST", headers: { prefer: "respond-async" }, json: { model: "down-model", messages: [{ role: "user", content: "polled" }] } }),
    );
    // The model that served is recorded when the task completes: a poll that lands while it runs (content
    // already streamed in) still names the model asked for.
    const polled = await eventually(async () => {
      const current = await json(await stack.request(`/v1/chat/completions/${accepted.id}`));
      return current.status === "completed" ? current : undefined;
    }, { what: "the polled completion" });
    expect(polled.model).toBe("backup-model");
    const response = await json(await stack.request("/v1/responses", { method: "POST", json: { model: "down-model", input: "borrowed response" } }));
    expect({ model: response.model, status: response.status }).toEqual({ model: "backup-model", status: "completed" });
    // The fallback's upstream was asked for its own upstream model name.
    expect(completions(backup, "backup-upstream").length).toBeGreaterThanOrEqual(4 + 4 + 4);

    const metrics = await (await fetch(stack.worker!.metricsUrl!)).text();
    expect(sample(metrics, 'llmq_fallbacks_total{model="down-model",fallback="backup-model",outcome="served"}')).toBeGreaterThanOrEqual(8);
  });

  it("expiry rescue: a task whose only upstream is paused is served by the fallback before its queue TTL ends", async () => {
    // The first request is answered 429 Retry-After 60: the upstream pauses for a minute.
    const id = await submit("paused-model", "rescued", { queue_ttl_seconds: 4 });
    const task = await final(id, 20_000);
    expect({ status: task.status, servedModel: task.servedModel, upstream: task.upstream, response: task.response }).toEqual({
      status: "COMPLETED",
      servedModel: "rescue-model",
      upstream: "rescue-up",
      response: "Echo: rescued",
    });
    expect(completions(backup, "rescue-upstream").length).toBeGreaterThanOrEqual(1);
  });

  it("expiry rescue: a task waiting behind a full upstream (capacity, not an outage) is served by the fallback before its queue TTL ends", async () => {
    const first = await submit("full-model", "holds the only slot");
    await eventually(async () => ((await stack.api.deps.tasks.findById(first))?.status === "RUNNING" ? true : undefined), { what: "the first task running" });
    const rescuedAt = Date.now();
    const id = await submit("full-model", "rescued from a full upstream", { queue_ttl_seconds: 2 });
    const task = await final(id, 20_000);
    expect({ status: task.status, servedModel: task.servedModel, upstream: task.upstream, attempts: task.attempts, response: task.response }).toEqual({
      status: "COMPLETED",
      servedModel: "rescue-model",
      upstream: "rescue-up",
      attempts: 1,
      response: "Echo: rescued from a full upstream",
    });
    // Served before its own model had room (the first task holds the slot for 3 s).
    expect(task.startedAt!.getTime() - rescuedAt).toBeLessThan(2_000);
    const holder = await final(first);
    expect({ status: holder.status, servedModel: holder.servedModel }).toEqual({ status: "COMPLETED", servedModel: "full-model" });
  });

  it("a borrowed request fails over between the fallback's upstreams before its first token, with no try spent", async () => {
    // split-model's own upstream is out from the start (its task spends no try on it).
    await openBreaker("llm_split_model_queue", "down-d");
    const task = await final(await submit("split-model", "split"));
    expect({ status: task.status, attempts: task.attempts, servedModel: task.servedModel, upstream: task.upstream, response: task.response }).toEqual({
      status: "COMPLETED",
      attempts: 1,
      servedModel: "split-backup",
      upstream: "split-good",
      response: "Echo: split",
    });
  });

  it("a fallback whose every upstream fails hands the task back to its model, no try spent, and is not asked again at once", async () => {
    await openBreaker("llm_lost_model_queue", "down-f");
    const before = failing.requests.length;
    const task = await final(await submit("lost-model", "nowhere to go", { queue_ttl_seconds: 3 }), 20_000);
    // Never failed for the fallback's 500s (a loan that did not work out): it waited, and its TTL ended it.
    expect({ status: task.status, attempts: task.attempts, servedModel: task.servedModel, errorCode: task.errorCode }).toEqual({
      status: "EXPIRED",
      attempts: 0,
      servedModel: null,
      errorCode: "queue_ttl_exceeded",
    });
    // One request to the failing fallback in the task's 3 s, not one per dispatch round.
    expect(failing.requests.length - before).toBe(1);
  });

  it("a fallback that cannot honour the request (tools on the simulated provider) is skipped: the task waits for its own model", async () => {
    const tools = [{ type: "function", function: { name: "lookup", parameters: { type: "object", properties: {} } } }];
    // Opens the only upstream's breaker; then served by the simulated fallback (nothing it cannot do).
    const plain = await final(await submit("tools-model", "plain"));
    expect({ status: plain.status, servedModel: plain.servedModel }).toEqual({ status: "COMPLETED", servedModel: "sim-model" });
    // Legacy completions name the model that served too.
    const text = await json(await stack.request("/v1/completions", { method: "POST", json: { model: "tools-model", prompt: "borrowed text", max_tokens: 5 } }));
    expect({ model: text.model, object: text.object }).toEqual({ model: "sim-model", object: "text_completion" });
    const accepted = await stack.request("/v1/chat/completions", {
      method: "POST",
      headers: { prefer: "respond-async" },
      json: { model: "tools-model", messages: [{ role: "user", content: "with tools" }], tools, queue_ttl_seconds: 3 },
    });
    expect(accepted.status).toBe(202);
    const withTools = accepted.headers.get("x-task-id")!;
    const task = await final(withTools, 20_000);
    // Never run on the fallback: it waited for tools-model's upstream, and its queue TTL ended the wait.
    expect({ status: task.status, servedModel: task.servedModel, attempts: task.attempts, errorCode: task.errorCode }).toEqual({
      status: "EXPIRED",
      servedModel: null,
      attempts: 0,
      errorCode: "queue_ttl_exceeded",
    });
  });
});
