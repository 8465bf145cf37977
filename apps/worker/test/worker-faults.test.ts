import type { ChildProcess } from "node:child_process";
import { newTaskId } from "@llmq/core";
import { ADMIN_USER_ID, type TaskRecord } from "@llmq/db";
import type { TaskEventEntry } from "@llmq/queue";
import { type OpenAIFixture, eventually, json, startOpenAIFixture } from "@llmq/testkit";
import { type TestStack, startTestStack } from "@llmq/stack";

// Spawned worker processes serve only `slow-model` (so they can be killed without touching anything
// else); the in-process worker serves the other models. `slow-twin` runs the same simulated provider
// as `slow-model`: the simulated text depends only on messages and sampling settings, so a task on the
// twin is the crash-free reference of the same task on `slow-model`. Their shutdown deadline is far
// beyond the test's timeout, so a worker that exits after SIGTERM did drain its jobs gracefully; so is
// their lock: a task taken over within the test's time was found through the dead worker's missing
// heartbeat (WORKER_DEAD_AFTER_MS, 3 s in tests), not through its lock running out.
const SPAWNED = { WORKER_MODELS: "slow-model", SHUTDOWN_TIMEOUT_MS: "120000", LOCK_DURATION_MS: "120000" };

let fixture: OpenAIFixture;
let stack: TestStack;
beforeAll(async () => {
  fixture = await startOpenAIFixture();
  stack = await startTestStack({
    models: {
      providers: {
        slow: { type: "simulated", first_token_ms: 5, tokens_per_second: 40 },
        fast: { type: "simulated", first_token_ms: 5, tokens_per_second: 2000 },
        upstream: { type: "openai", base_url: fixture.url, api_key: "fixture-key", timeout_ms: 10_000 },
      },
      models: [
        { id: "gemma-7b", provider: "fast" },
        { id: "slow-model", provider: "slow", concurrency: 2 },
        { id: "slow-twin", provider: "slow", concurrency: 2 },
        { id: "upstream-model", provider: "upstream", upstream_model: "fixture-model", concurrency: 4 },
      ],
    },
    env: {
      WORKER_MODELS: "gemma-7b,slow-twin,upstream-model",
      SWEEP_AFTER_MS: "100",
      // Sweeper rounds only when a test asks for one.
      SWEEP_INTERVAL_MS: "3600000",
    },
  });
});
afterAll(async () => {
  await stack?.close();
  await fixture?.close();
});

async function submit(model: string, content: string, maxTokens = 100): Promise<string> {
  const res = await stack.request("/v1/ai/text_completion?async=true", {
    method: "POST",
    json: { messages: [{ role: "user", content }], configs: { model, max_tokens: maxTokens, temperature: 0 } },
  });
  expect(res.status).toBe(202);
  return (await json(res)).data.data.task_id;
}

async function taskOf(taskId: string): Promise<TaskRecord> {
  const task = await stack.api.deps.tasks.findById(taskId);
  if (!task) throw new Error(`no task ${taskId}`);
  return task;
}

function waitForTask(taskId: string, check: (task: TaskRecord) => boolean, what: string, timeoutMs = 20_000): Promise<TaskRecord> {
  return eventually(async () => {
    const task = await taskOf(taskId);
    return check(task) ? task : undefined;
  }, { timeoutMs, what: `task ${taskId}: ${what}` });
}

const isFinalStatus = (task: TaskRecord) => ["COMPLETED", "FAILED", "CANCELLED", "EXPIRED"].includes(task.status);

function exited(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
}

/** Checks the task's event stream tells one consistent story ending in `status`. */
async function expectOneEnding(taskId: string, status: string): Promise<TaskEventEntry[]> {
  // The row turns final first, then the worker flushes the events: wait for the final event, then check them all.
  const entries = await eventually(async () => {
    const read = await stack.api.deps.log.readAfter(taskId, "0", 10_000);
    return read.some((entry) => entry.event.type === "final") ? read : undefined;
  }, { what: `the final event of ${taskId}` });
  const events = entries.map((entry) => entry.event);
  expect(events.filter((event) => event.type === "final")).toEqual([{ type: "final", status }]);
  expect(events.filter((event) => event.type === "status" && event.status === status)).toHaveLength(1);
  expect(events[events.length - 1]).toEqual({ type: "final", status });
  return entries;
}

describe("a worker killed mid-task", () => {
  it("is taken over by a fresh worker long before its lock runs out; the task completes exactly once, with no duplicated text", async () => {
    const prompt = "Tell me a long story about a queue that never loses a task.";
    const first = await stack.spawnWorker(SPAWNED);
    const taskId = await submit("slow-model", prompt);
    const referenceId = await submit("slow-twin", prompt);

    await waitForTask(taskId, (task) => task.status === "RUNNING" && task.completionTokens >= 8, "running with some tokens");
    first.kill("SIGKILL");
    expect(await exited(first)).toEqual({ code: null, signal: "SIGKILL" });
    const orphaned = await taskOf(taskId);
    expect(orphaned).toMatchObject({ status: "RUNNING", attempts: 1 });
    expect(orphaned.completionTokens).toBeLessThan(100);

    const second = await stack.spawnWorker(SPAWNED);
    const [done, reference] = await Promise.all([
      waitForTask(taskId, isFinalStatus, "final after takeover"),
      waitForTask(referenceId, isFinalStatus, "reference final"),
    ]);
    expect(reference.status).toBe("COMPLETED");
    expect(reference.completionTokens).toBe(100);
    expect(done).toMatchObject({
      status: "COMPLETED",
      attempts: 2,
      percent: 100,
      response: reference.response,
      completionTokens: reference.completionTokens,
      promptTokens: reference.promptTokens,
      finishReason: reference.finishReason,
      errorCode: null,
    });

    // The stream holds both attempts; the second alone spells the final text, and it ends once.
    const entries = await expectOneEnding(taskId, "COMPLETED");
    const events = entries.map((entry) => entry.event);
    const running = events.flatMap((event) => (event.type === "status" && event.status === "RUNNING" ? [event.attempt] : []));
    expect(running).toEqual([1, 2]);
    const secondText = events.flatMap((event) => (event.type === "token" && event.attempt === 2 ? [event.delta] : [])).join("");
    expect(secondText).toBe(reference.response);

    // What a client reads agrees.
    const body = await json(await stack.request(`/v1/ai/tasks/${taskId}`));
    expect(body.data.data).toMatchObject({ status: "COMPLETED", attempts: 2, response: reference.response });

    second.kill("SIGTERM");
    expect(await exited(second)).toEqual({ code: 0, signal: null });
  });
});

describe("the sweeper", () => {
  it("enqueues a PENDING task whose job was never enqueued, and the task completes", async () => {
    const { tasks, queues } = stack.api.deps;
    const taskId = newTaskId();
    const messages = [{ role: "user" as const, content: "committed but never enqueued" }];
    // As if the API died between committing the row and enqueuing its job.
    await tasks.create({
      id: taskId,
      ownerId: ADMIN_USER_ID,
      model: "gemma-7b",
      queueName: "llm_gemma_7b_queue",
      messages,
      configs: { model: "gemma-7b", max_tokens: 16, temperature: 0, top_p: 0.5, top_k: 50 },
    });
    expect(await queues.jobState("llm_gemma_7b_queue", taskId)).toBeNull();

    // A round finds it once it is older than SWEEP_AFTER_MS.
    await eventually(
      async () => {
        await stack.worker!.sweep();
        return (await queues.jobState("llm_gemma_7b_queue", taskId)) ?? undefined;
      },
      { what: "the sweeper to enqueue the task" },
    );
    const done = await waitForTask(taskId, isFinalStatus, "final after the sweep");
    expect(done).toMatchObject({ status: "COMPLETED", attempts: 1, completionTokens: 16, finishReason: "length" });
    expect(done.response.length).toBeGreaterThan(0);
    await expectOneEnding(taskId, "COMPLETED");

    // Nothing left to reconcile: another round changes nothing.
    expect(await stack.worker!.sweep()).toEqual({ requeued: 0, failed: 0, erased: 0, deleted: { tasks: 0, batches: 0, files: 0, deliveries: 0, idempotency_keys: 0 } });
    expect(await taskOf(taskId)).toMatchObject({ status: "COMPLETED", attempts: 1 });
  });
});

describe("upstream failures", () => {
  const requestsFor = (content: string) =>
    fixture.requests.filter((request) => {
      const messages = (request.body as { messages?: Array<{ content?: unknown }> } | null)?.messages ?? [];
      return messages.some((message) => message.content === content);
    }).length;

  // A spent quota (insufficient_quota) no longer fails a task: it pauses the upstream and the task waits
  // (upstream-failover.test.ts).
  it("retries server errors, waits out a rate limit without spending a try, and fails at once on a bad request", async () => {
    const serverError = "flaky server [[fixture:status=500,failFirst=2]]";
    const rateLimited = "busy server [[fixture:status=429,retryAfter=1,failFirst=1]]";
    const badRequest = "refused request [[fixture:status=400]]";
    const [serverErrorId, rateLimitedId, badRequestId] = await Promise.all(
      [serverError, rateLimited, badRequest].map((content) => submit("upstream-model", content, 50)),
    );
    const final = (taskId: string) => waitForTask(taskId, isFinalStatus, "final");

    const retried = await final(serverErrorId!);
    expect(retried).toMatchObject({ status: "COMPLETED", attempts: 3, response: "Echo: flaky server", errorCode: null, errorMessage: null });
    expect(requestsFor(serverError)).toBe(3);
    const retriedEvents = (await expectOneEnding(serverErrorId!, "COMPLETED")).map((entry) => entry.event);
    const retryNotices = retriedEvents.filter((event) => event.type === "status" && event.status === "PENDING" && event.error);
    expect(retryNotices).toHaveLength(2);
    expect(retryNotices.every((event) => event.type === "status" && event.error?.code === "upstream_server_error")).toBe(true);

    // The 429 paused the upstream for 1 s; the attempt waited inside itself and went on: one attempt, no retry notice.
    const waited = await final(rateLimitedId!);
    expect(waited).toMatchObject({ status: "COMPLETED", attempts: 1, response: "Echo: busy server" });
    expect(requestsFor(rateLimited)).toBe(2);
    const waitedEvents = (await expectOneEnding(rateLimitedId!, "COMPLETED")).map((entry) => entry.event);
    expect(waitedEvents.filter((event) => event.type === "status" && event.error)).toEqual([]);

    const refused = await final(badRequestId!);
    expect(refused).toMatchObject({ status: "FAILED", attempts: 1, errorCode: "upstream_bad_request" });
    expect(requestsFor(badRequest)).toBe(1);
    await expectOneEnding(badRequestId!, "FAILED");
    const envelope = await json(await stack.request(`/v1/ai/tasks/${badRequestId}`));
    expect(envelope.data.is_success).toBe(false);
    expect(envelope.data.data).toMatchObject({ status: "FAILED", attempts: 1, error: { code: "upstream_bad_request" } });
    expect(envelope.errors).toEqual([{ code: "upstream_bad_request", message: refused.errorMessage }]);
    expect(envelope.error_description).toBe(refused.errorMessage);
    expect(envelope.error_description).toContain("400");
    expect(envelope.error_description).not.toContain("fixture-key");

    // Not retried: the task left the run queue for good after one attempt (neither waiting nor delayed
    // for a retry), and the upstream saw one request.
    expect(await stack.api.deps.queues.jobState("llm_upstream_model_queue", badRequestId!)).toBeNull();
    expect(requestsFor(badRequest)).toBe(1);
  });
});

describe("graceful shutdown", () => {
  it("exits 0 on SIGTERM once the running task is finished", async () => {
    const prompt = "A steady worker finishes what it started before it leaves.";
    const worker = await stack.spawnWorker(SPAWNED);
    const taskId = await submit("slow-model", prompt);
    const referenceId = await submit("slow-twin", prompt);
    await waitForTask(taskId, (task) => task.status === "RUNNING" && task.completionTokens >= 5, "running with some tokens");

    worker.kill("SIGTERM");
    expect(await exited(worker)).toEqual({ code: 0, signal: null });
    // Its deadline is far away: it finished the task itself before exiting.
    const [done, reference] = await Promise.all([taskOf(taskId), waitForTask(referenceId, isFinalStatus, "reference final")]);
    expect(done).toMatchObject({
      status: "COMPLETED",
      attempts: 1,
      response: reference.response,
      completionTokens: reference.completionTokens,
      finishReason: reference.finishReason,
    });
    await expectOneEnding(taskId, "COMPLETED");
  });

  it("leaves a task it cannot finish within SHUTDOWN_TIMEOUT_MS to another worker, and still exits 0", async () => {
    const prompt = "A worker that must leave now hands its task over.";
    // The task needs about 2.5 s more when SIGTERM arrives; the worker may wait 300 ms for it. It records
    // itself as gone on the way out, so the takeover does not wait for the lock (2 minutes here).
    const worker = await stack.spawnWorker({ ...SPAWNED, SHUTDOWN_TIMEOUT_MS: "300" });
    const taskId = await submit("slow-model", prompt);
    const referenceId = await submit("slow-twin", prompt);
    await waitForTask(taskId, (task) => task.status === "RUNNING" && task.completionTokens >= 5, "running with some tokens");

    worker.kill("SIGTERM");
    expect(await exited(worker)).toEqual({ code: 0, signal: null });
    const left = await taskOf(taskId);
    expect(left).toMatchObject({ status: "RUNNING", attempts: 1 });
    expect(left.completionTokens).toBeLessThan(100);

    const takeover = await stack.spawnWorker(SPAWNED);
    const [done, reference] = await Promise.all([
      waitForTask(taskId, isFinalStatus, "final after takeover"),
      waitForTask(referenceId, isFinalStatus, "reference final"),
    ]);
    expect(done).toMatchObject({ status: "COMPLETED", attempts: 2, response: reference.response, completionTokens: reference.completionTokens });
    await expectOneEnding(taskId, "COMPLETED");

    takeover.kill("SIGTERM");
    expect(await exited(takeover)).toEqual({ code: 0, signal: null });
  });
});

describe("a worker paused past its lock", () => {
  it("is fenced off when it wakes: its late writes are refused and the task ends once, from the attempt that took over", async () => {
    const prompt = "A worker that slept through its turn must not write over the one that took over.";
    const sleeper = await stack.spawnWorker({ ...SPAWNED, LOCK_DURATION_MS: "2000" });
    let sleeperOutput = "";
    sleeper.stdout!.on("data", (chunk: Buffer) => (sleeperOutput += chunk.toString()));
    const taskId = await submit("slow-model", prompt);
    const referenceId = await submit("slow-twin", prompt);
    await waitForTask(taskId, (task) => task.status === "RUNNING" && task.completionTokens >= 5, "running with some tokens");

    sleeper.kill("SIGSTOP");
    const takeover = await stack.spawnWorker(SPAWNED);
    // Its heartbeat and its lock both lapse while it sleeps; the takeover starts attempt 2.
    await waitForTask(taskId, (task) => task.attempts === 2 && task.status === "RUNNING", "attempt 2 running", 30_000);
    sleeper.kill("SIGCONT");

    const [done, reference] = await Promise.all([
      waitForTask(taskId, isFinalStatus, "final after takeover"),
      waitForTask(referenceId, isFinalStatus, "reference final"),
    ]);
    expect(done).toMatchObject({
      status: "COMPLETED",
      attempts: 2,
      response: reference.response,
      completionTokens: reference.completionTokens,
      promptTokens: reference.promptTokens,
    });
    const entries = await expectOneEnding(taskId, "COMPLETED");
    const events = entries.map((entry) => entry.event);
    const secondText = events.flatMap((event) => (event.type === "token" && event.attempt === 2 ? [event.delta] : [])).join("");
    expect(secondText).toBe(reference.response);
    // The sleeper noticed it had been fenced off (its checkpoint was refused) and stopped its attempt.
    await eventually(async () => (sleeperOutput.includes("attempt stopped: task cancelled or taken over") ? true : undefined), {
      what: "the woken worker to stop its fenced-off attempt",
    });
    expect(await taskOf(taskId)).toMatchObject({ status: "COMPLETED", attempts: 2, response: reference.response });

    for (const worker of [sleeper, takeover]) worker.kill("SIGTERM");
    expect(await exited(sleeper)).toEqual({ code: 0, signal: null });
    expect(await exited(takeover)).toEqual({ code: 0, signal: null });
  });
});

describe("SIGTERM under load", () => {
  it("finishes or hands over every in-flight task: all complete once, none is left stuck", async () => {
    const workers = await Promise.all([1, 2, 3].map(() => stack.spawnWorker({ ...SPAWNED, SHUTDOWN_TIMEOUT_MS: "700" })));
    // 12 tasks of about 1.5 s each over 3 workers x 2 slots: some finish during the drain, some are cut off.
    const taskIds = await Promise.all(Array.from({ length: 12 }, (_, i) => submit("slow-model", `Under load, task number ${i}.`, 60)));
    await eventually(
      async () => {
        const running = await Promise.all(taskIds.map(taskOf));
        return running.filter((task) => task.status === "RUNNING").length >= 4 ? true : undefined;
      },
      { what: "four tasks running" },
    );
    for (const worker of workers.slice(0, 2)) worker.kill("SIGTERM");
    const exits = await Promise.all(workers.slice(0, 2).map(exited));
    expect(exits).toEqual([{ code: 0, signal: null }, { code: 0, signal: null }]);
    const fresh = await stack.spawnWorker(SPAWNED);

    const done = await Promise.all(taskIds.map((taskId) => waitForTask(taskId, isFinalStatus, "final", 60_000)));
    for (const task of done) {
      expect(task).toMatchObject({ status: "COMPLETED", percent: 100, errorCode: null });
      const events = (await expectOneEnding(task.id, "COMPLETED")).map((entry) => entry.event);
      // The attempt that completed spells the whole text by itself, one token per event, and usage counts
      // that attempt alone: nothing from a cut-off attempt leaks in.
      const lastTokens = events.flatMap((event) => (event.type === "token" && event.attempt === task.attempts ? [event.delta] : []));
      expect(lastTokens.join("")).toBe(task.response);
      expect(task.completionTokens).toBe(lastTokens.length);
    }
    // Some were handed over (a second attempt), and nothing is left active or waiting on the queue.
    expect(done.some((task) => task.attempts === 2)).toBe(true);
    expect(await stack.api.deps.queues.counts("llm_slow_model_queue")).toMatchObject({ waiting: 0, active: 0, delayed: 0, failed: 0 });

    for (const worker of [workers[2]!, fresh]) worker.kill("SIGTERM");
    expect(await Promise.all([exited(workers[2]!), exited(fresh)])).toEqual([{ code: 0, signal: null }, { code: 0, signal: null }]);
  });
});
