import { type OpenAIFixture, type SseEvent, eventually, json, readSse, startOpenAIFixture } from "@llmq/testkit";
import { type TestStack, startTestStack } from "@llmq/stack";

const FAST_MODEL = "gemma-7b";
// No worker serves this model until a test starts one, so its tasks wait in the queue.
const IDLE_MODEL = "llama-3.1-8b-instruct";
const IDLE_QUEUE = "llm_llama_3_1_8b_instruct_queue";
// Answered by the OpenAI fixture over real HTTP.
const UPSTREAM_MODEL = "fixture-model";
const UPSTREAM_QUEUE = "llm_fixture_model_queue";

let fixture: OpenAIFixture;
let stack: TestStack;
beforeAll(async () => {
  fixture = await startOpenAIFixture();
  stack = await startTestStack({
    worker: false,
    models: {
      providers: {
        fast: { type: "simulated", first_token_ms: 5, tokens_per_second: 2000 },
        upstream: { type: "openai", base_url: fixture.url, timeout_ms: 10_000 },
      },
      models: [
        { id: FAST_MODEL, provider: "fast", concurrency: 4 },
        { id: IDLE_MODEL, provider: "fast", concurrency: 4 },
        { id: UPSTREAM_MODEL, provider: "upstream", concurrency: 2 },
      ],
    },
  });
  await stack.startWorker({ WORKER_MODELS: `${FAST_MODEL},${UPSTREAM_MODEL}` });
});
afterAll(async () => {
  await stack.close();
  await fixture.close();
});

function completionRequest(content: string, model: string, maxTokens = 64) {
  return { messages: [{ role: "user", content }], configs: { model, max_tokens: maxTokens } };
}


async function getTask(taskId: string) {
  const res = await stack.request(`/v1/ai/tasks/${taskId}`);
  expect(res.status).toBe(200);
  return (await json(res)).data.data;
}

function cancel(taskId: string): Promise<Response> {
  return stack.request(`/v1/ai/tasks/${taskId}/cancel`, { method: "POST" });
}

async function storedEvents(taskId: string) {
  return (await stack.api.deps.log.readAfter(taskId, "0")).map((entry) => entry.event);
}

/**
 * Follows a task's SSE stream in the background: `reached(name, n)` resolves once `n` events of that
 * name arrived (and fails if the stream ends first); `done` resolves with every event once the server
 * closes the stream.
 */
function followEvents(res: Response) {
  const seen: SseEvent[] = [];
  const waiters: (() => void)[] = [];
  const done = readSse(res, {
    until: (event) => {
      seen.push(event);
      for (const wake of waiters) wake();
      return false;
    },
  });
  const count = (name: string) => seen.filter((event) => event.event === name).length;
  const reached = (name: string, n: number) =>
    new Promise<void>((resolve, reject) => {
      const check = () => count(name) >= n && resolve();
      waiters.push(check);
      check();
      void done.then(() => reject(new Error(`stream ended after ${count(name)} '${name}' events, before ${n}`)), reject);
    });
  return { done, reached };
}

const data = (event: SseEvent) => JSON.parse(event.data);

describe("POST /v1/ai/tasks/{id}/cancel", () => {
  it("cancels a PENDING task, which then never runs", async () => {
    const taskId = await stack.submitAsync(completionRequest("Nobody will ever answer this.", IDLE_MODEL));
    expect(await stack.api.deps.queues.jobState(IDLE_QUEUE, taskId)).toMatchObject({ state: "waiting" });

    // A subscriber already following the task sees it cancelled, then the result, then the end.
    const stream = await stack.request(`/v1/ai/tasks/${taskId}/events`);
    const follower = followEvents(stream);
    await follower.reached("status", 1);

    const res = await cancel(taskId);
    expect(res.status).toBe(200);
    const body = await json(res);
    expect(body.status).toBe("success");
    expect(body.data.is_success).toBe(false);
    expect(body.error_description).toBe("cancelled");
    expect(body.data.data).toMatchObject({
      task_id: taskId,
      status: "CANCELLED",
      response: "",
      percent: 0,
      attempts: 0,
      finish_reason: "cancelled",
      started_at: null,
    });
    expect(body.data.data.completed_at).not.toBeNull();

    const events = await follower.done;
    expect(events.map((e) => e.event)).toEqual(["status", "status", "result"]);
    expect(data(events[0]!)).toMatchObject({ status: "PENDING" });
    expect(data(events[1]!)).toMatchObject({ task_id: taskId, status: "CANCELLED" });
    expect(data(events[2]!).data.data).toMatchObject({ task_id: taskId, status: "CANCELLED" });

    // Its job left the queue, and cancelling again changes nothing.
    expect(await stack.api.deps.queues.jobState(IDLE_QUEUE, taskId)).toBeNull();
    const again = await cancel(taskId);
    expect(again.status).toBe(200);
    expect((await json(again)).data.data.status).toBe("CANCELLED");
    expect((await storedEvents(taskId)).filter((e) => e.type === "status" && e.status === "CANCELLED")).toHaveLength(1);

    // A worker for the model arrives. Even a job that still carries the task (a duplicate enqueue,
    // or a sweeper racing the cancel) is taken and dropped without running anything.
    await stack.api.deps.queues.enqueueMany([{ id: taskId, queueName: IDLE_QUEUE, tenant: "duplicate", tier: "default", estimatedTokens: 1, queueDeadline: null }]);
    expect(await stack.api.deps.queues.jobState(IDLE_QUEUE, taskId)).toMatchObject({ state: "waiting" });
    await stack.startWorker({ WORKER_MODELS: IDLE_MODEL });
    const control = await stack.submitAsync(completionRequest("This one does run.", IDLE_MODEL));
    await eventually(async () => ((await getTask(control)).status === "COMPLETED" ? true : undefined), { what: "the control task" });
    // Settled tasks leave the run queue; each settle records its run time: two tasks were taken and settled.
    await eventually(
      async () => ((await stack.api.deps.queues.jobState(IDLE_QUEUE, taskId)) === null && (await stack.api.deps.queues.recentRunTimesMs(IDLE_QUEUE)).length === 2 ? true : undefined),
      { what: "the worker to take and drop the cancelled task's entry" },
    );
    expect(await stack.api.deps.queues.counts(IDLE_QUEUE)).toMatchObject({ waiting: 0, active: 0, delayed: 0, failed: 0 });

    const after = await getTask(taskId);
    expect(after).toMatchObject({ status: "CANCELLED", attempts: 0, response: "", started_at: null, percent: 0 });
    expect(after.usage.completion_tokens).toBe(0);
    // Its stream was opened by the cancel (a waiting task has none); its follower was shown PENDING by the API.
    expect((await storedEvents(taskId)).map((e) => (e.type === "status" || e.type === "final" ? `${e.type}:${e.status}` : e.type))).toEqual([
      "status:CANCELLED",
      "final:CANCELLED",
    ]);
  });

  it("cancels a RUNNING task mid-stream: the upstream request is aborted and the partial answer kept", async () => {
    const words = Array.from({ length: 30 }, (_, index) => `word${index + 1}`).join(" ");
    const fullReply = `Echo: ${words}`;
    const requestsBefore = fixture.requests.length;
    const taskId = await stack.submitAsync(completionRequest(`${words} [[fixture:tokenDelayMs=100]]`, UPSTREAM_MODEL, 256));

    const follower = followEvents(await stack.request(`/v1/ai/tasks/${taskId}/events`));
    await follower.reached("token", 3);
    const res = await cancel(taskId);
    expect(res.status).toBe(200);
    expect((await json(res)).data.data.status).toBe("CANCELLED");

    // The subscriber's stream ends with the cancellation and the result.
    const events = await follower.done;
    const names = events.map((e) => e.event);
    expect(names.slice(0, 2)).toEqual(["status", "status"]);
    expect(data(events[1]!)).toMatchObject({ status: "RUNNING", attempt: 1 });
    expect(names.slice(-2)).toEqual(["status", "result"]);
    expect(data(events[events.length - 2]!)).toMatchObject({ task_id: taskId, status: "CANCELLED", attempt: 1 });
    expect(data(events[events.length - 1]!).data.data).toMatchObject({ task_id: taskId, status: "CANCELLED" });
    const streamed = events
      .filter((e) => e.event === "token")
      .map((e) => data(e).delta)
      .join("");
    expect(streamed.length).toBeGreaterThan(0);

    // The worker closed its upstream request, then finished the job without retrying it.
    await eventually(async () => (fixture.abortedRequests() === 1 ? true : undefined), { what: "the upstream request to be aborted" });
    // Leased while it ran; settled (and so gone from the run queue) once the attempt ended.
    await eventually(async () => ((await stack.api.deps.queues.jobState(UPSTREAM_QUEUE, taskId)) === null ? true : undefined), { what: "the cancelled attempt to end" });
    expect(fixture.requests.length - requestsBefore).toBe(1);

    const task = await getTask(taskId);
    expect(task.status).toBe("CANCELLED");
    expect(task.finish_reason).toBe("cancelled");
    expect(task.attempts).toBe(1);
    expect(task.response.length).toBeGreaterThan(0);
    expect(task.response.length).toBeLessThan(fullReply.length);
    expect(fullReply.startsWith(task.response)).toBe(true);
    expect(task.response.startsWith(streamed)).toBe(true);
    // One completion token per word the upstream sent before the cut.
    expect(task.usage.completion_tokens).toBe(task.response.split(" ").length);
    expect(task.first_token_at).not.toBeNull();
    expect(task.completed_at).not.toBeNull();
    // It stays cancelled: nothing completes it afterwards.
    expect((await storedEvents(taskId)).filter((e) => e.type === "final")).toEqual([{ type: "final", status: "CANCELLED", outputPending: true }]);
  });

  it("leaves a COMPLETED task as it is", async () => {
    const submitted = await stack.request("/v1/ai/text_completion", { method: "POST", json: completionRequest("Finish first.", FAST_MODEL) });
    const done = (await json(submitted)).data.data;
    expect(done.status).toBe("COMPLETED");

    const res = await cancel(done.task_id);
    expect(res.status).toBe(200);
    const body = await json(res);
    expect(body.data.is_success).toBe(true);
    expect(body.data.data).toMatchObject({ status: "COMPLETED", percent: 100, response: done.response, finish_reason: done.finish_reason });
    expect(await getTask(done.task_id)).toEqual(done);
    const events = await storedEvents(done.task_id);
    expect(events.some((e) => e.type === "status" && e.status === "CANCELLED")).toBe(false);
  });

  it("answers 404 for a task that does not exist", async () => {
    for (const taskId of ["0123456789abcdef0123456789abcdef", "not-a-task-id"]) {
      const res = await cancel(taskId);
      expect(res.status).toBe(404);
      const body = await json(res);
      expect(body.status).toBe("error");
      expect(body.data).toBeNull();
      expect(body.errors[0]).toMatchObject({ code: "task_not_found", param: "task_id" });
    }
  });
});
