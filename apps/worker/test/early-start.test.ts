import { type OpenAIFixture, eventually, readSse, startOpenAIFixture } from "@llmq/testkit";
import { type TestStack, startTestStack } from "@llmq/stack";
import { AttemptGate } from "../src/attempt-gate";

// A small task's job carries a copy of its request, so the worker calls the upstream while the attempt's
// start statement commits: the first token is not held behind the commit. Its tokens wait until the
// attempt number is known; a task that may not run costs at most one aborted upstream request.

const UPSTREAM = "upstream-model";

describe("AttemptGate", () => {
  const attempt = (n: number) => ({ kind: "started" as const, attempt: { attempt: n } as never });

  it("holds events until the attempt is known, then writes them in order with its number; later ones go at once", async () => {
    let open!: (value: ReturnType<typeof attempt>) => void;
    const written: unknown[][] = [];
    const gate = new AttemptGate(new Promise((resolve) => (open = resolve)), (events) => written.push(events), () => undefined);
    gate.emit((n) => ({ type: "token", attempt: n, delta: "a", tokens: 1, percent: 1 }));
    gate.emit((n) => ({ type: "token", attempt: n, delta: "b", tokens: 2, percent: 2 }));
    expect(written).toEqual([]);
    expect(gate.known).toBeNull();
    open(attempt(3));
    await gate.settled;
    expect(written).toEqual([[expect.objectContaining({ attempt: 3, delta: "a" }), expect.objectContaining({ attempt: 3, delta: "b" })]]);
    gate.emit((n) => ({ type: "token", attempt: n, delta: "c", tokens: 3, percent: 3 }));
    expect(written[1]).toEqual([expect.objectContaining({ attempt: 3, delta: "c" })]);
  });

  it("hands what it held to the attempt's start (written with its RUNNING event, in one append), and never writes it again", async () => {
    let open!: (value: ReturnType<typeof attempt>) => void;
    const written: unknown[][] = [];
    const gate = new AttemptGate(new Promise((resolve) => (open = resolve)), (events) => written.push(events), () => undefined);
    gate.emit((n) => ({ type: "token", attempt: n, delta: "a", tokens: 1, percent: 1 }));
    expect(gate.release(3)).toEqual([expect.objectContaining({ attempt: 3, delta: "a" })]);
    // Emitted after the start took the held events but before its answer reached the gate: held, then written.
    gate.emit((n) => ({ type: "token", attempt: n, delta: "b", tokens: 2, percent: 2 }));
    open(attempt(3));
    await gate.settled;
    expect(written).toEqual([[expect.objectContaining({ attempt: 3, delta: "b" })]]);
  });

  it("drops what it held and says so when the task may not run", async () => {
    const written: unknown[][] = [];
    let refused = 0;
    const gate = new AttemptGate(Promise.resolve({ kind: "not_runnable" }), (events) => written.push(events), () => (refused += 1));
    gate.emit((n) => ({ type: "token", attempt: n, delta: "a", tokens: 1, percent: 1 }));
    expect(await gate.settled).toBeNull();
    gate.emit((n) => ({ type: "token", attempt: n, delta: "b", tokens: 2, percent: 2 }));
    expect(written).toEqual([]);
    expect(refused).toBe(1);
  });
});

describe("the upstream call does not wait for the attempt's start", () => {
  let fixture: OpenAIFixture;
  let stack: TestStack;
  beforeAll(async () => {
    fixture = await startOpenAIFixture();
    stack = await startTestStack({
      models: { providers: { upstream: { type: "openai", base_url: fixture.url, api_key: "k", timeout_ms: 10_000 } }, models: [{ id: UPSTREAM, provider: "upstream", upstream_model: "fixture-model", concurrency: 4 }] },
      worker: false,
    });
  });
  afterAll(async () => {
    await stack?.close();
    await fixture?.close();
  });

  const body = (content: string) => ({ messages: [{ role: "user", content }], configs: { model: UPSTREAM, max_tokens: 16 } });

  it("a task's run-queue entry carries a copy of its request, and its stream reads RUNNING before the first token", async () => {
    const taskId = await stack.submitAsync(body("copied request"));
    const runQueue = stack.api.deps.queues.runQueue(stack.api.deps.models.byId.get(UPSTREAM)!.queueName);
    const copy = JSON.parse((await stack.api.deps.redis.hget(runQueue.keys.task(taskId), "cp"))!);
    expect(copy).toMatchObject({ model: UPSTREAM, messages: [{ role: "user", content: "copied request" }], runTimeoutMs: expect.any(Number) });
    const worker = await stack.startWorker();
    try {
      const events = await readSse(await stack.request(`/v1/ai/tasks/${taskId}/events`, { signal: AbortSignal.timeout(15_000) }));
      const kinds = events.map((event) => (event.event === "status" ? `status:${JSON.parse(event.data).status}` : (event.event ?? "")));
      expect(kinds.indexOf("status:RUNNING")).toBeLessThan(kinds.indexOf("token"));
      expect(kinds.filter((kind) => kind.startsWith("status:"))).toEqual(["status:PENDING", "status:RUNNING", "status:COMPLETED"]);
      // In the stream itself every token carries the attempt it was held for.
      const stored = (await stack.api.deps.log.readAfter(taskId, "0")).map((entry) => entry.event);
      const tokens = stored.filter((event) => event.type === "token");
      expect(tokens.length).toBeGreaterThan(0);
      expect(tokens.every((event) => event.attempt === 1)).toBe(true);
    } finally {
      await worker.close();
    }
  });

  it("a task cancelled before its start commits costs at most one aborted upstream request and stays CANCELLED", async () => {
    fixture.setBehaviour({ firstTokenDelayMs: 200, tokenDelayMs: 50 });
    const taskId = await stack.submitAsync(body("cancelled under the worker"));
    // Cancelled in the row only, its job left in the queue: as if the cancel landed while the worker was taking it.
    await stack.api.deps.db.task.update({ where: { id: taskId }, data: { status: "CANCELLED", completedAt: new Date() } });
    const before = fixture.requests.length;
    const worker = await stack.startWorker();
    try {
      const queueName = stack.api.deps.models.byId.get(UPSTREAM)!.queueName;
      // Settled: its entry left the run queue.
      await eventually(async () => ((await stack.api.deps.queues.jobState(queueName, taskId)) === null ? true : undefined), { what: "the task settled" });
      expect(fixture.requests.length - before).toBeLessThanOrEqual(1);
      await eventually(async () => (fixture.inFlight() === 0 ? true : undefined), { what: "the upstream request aborted" });
      const task = await stack.api.deps.tasks.findById(taskId);
      expect(task).toMatchObject({ status: "CANCELLED", attempts: 0, response: "" });
      // Nothing of the refused attempt was written (no RUNNING, no early token): the task never got a stream
      // (the row was cancelled behind the engine's back here, so no cancel wrote one either).
      expect(await stack.api.deps.log.readAfter(taskId, "0")).toEqual([]);
    } finally {
      fixture.setBehaviour({});
      await worker.close();
    }
  });
});
