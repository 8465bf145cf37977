// An attempt that was taken over while it streamed (its worker paused between its last confirmation in
// Postgres and its next write, as after SIGSTOP) learns it from the task's event stream, which refuses its
// next token: it stops there and closes its upstream request, instead of streaming on, unseen, until a
// checkpoint or its completion is refused.
import { type OpenAIFixture, eventually, startOpenAIFixture } from "@llmq/testkit";
import { type TestStack, startTestStack } from "@llmq/stack";

const UPSTREAM = "fixture-model";

let fixture: OpenAIFixture;
let stack: TestStack;
beforeAll(async () => {
  fixture = await startOpenAIFixture();
  stack = await startTestStack({
    models: {
      providers: { upstream: { type: "openai", base_url: fixture.url, timeout_ms: 30_000 } },
      models: [{ id: UPSTREAM, provider: "upstream", concurrency: 2 }],
    },
    // No checkpoint and no confirmation of the hold (half the shorter of the lock and the heartbeat's
    // deadline) in the test's time: only the stream's refusal can tell the attempt it was taken over.
    env: { WORKER_MODELS: UPSTREAM, CHECKPOINT_INTERVAL_MS: "600000", LOCK_DURATION_MS: "60000", WORKER_DEAD_AFTER_MS: "60000" },
  });
});
afterAll(async () => {
  await stack?.close();
  await fixture?.close();
});

describe("an attempt taken over while it streams", () => {
  it("stops at its first refused token and closes its upstream request; nothing of it follows the new attempt's events", async () => {
    const words = Array.from({ length: 300 }, (_, index) => `w${index}`).join(" ");
    const abortedBefore = fixture.abortedRequests();
    const taskId = await stack.submitAsync({ messages: [{ role: "user", content: `${words} [[fixture:tokenDelayMs=40]]` }], configs: { model: UPSTREAM, max_tokens: 400 } });
    await eventually(async () => {
      const task = await stack.api.deps.tasks.findById(taskId);
      const tokens = (await stack.api.deps.log.readAfter(taskId, "0", 10_000)).filter((entry) => entry.event.type === "token");
      return task?.status === "RUNNING" && tokens.length >= 5 ? true : undefined;
    }, { what: "attempt 1 streaming" });

    // Another worker takes the task over (here the test, through the engine): attempt 2's RUNNING event goes in.
    const takeover = await stack.api.deps.engine.tasks.start(taskId);
    if (takeover.kind !== "started") throw new Error(`expected a second attempt, got ${takeover.kind}`);
    expect(takeover.attempt.attempt).toBe(2);

    // Attempt 1 closes its upstream request well before the 12 s its answer takes.
    await eventually(async () => (fixture.abortedRequests() > abortedBefore ? true : undefined), { what: "attempt 1's upstream request closed", timeoutMs: 6_000 });
    const events = (await stack.api.deps.log.readAfter(taskId, "0", 10_000)).map((entry) => entry.event);
    const second = events.findIndex((event) => event.type === "status" && event.status === "RUNNING" && event.attempt === 2);
    expect(second).toBeGreaterThan(0);
    expect(events.slice(second + 1).filter((event) => "attempt" in event && event.attempt === 1)).toEqual([]);
    // The row is attempt 2's, as the takeover left it.
    expect(await stack.api.deps.tasks.findById(taskId)).toMatchObject({ status: "RUNNING", attempts: 2 });
  });
});
