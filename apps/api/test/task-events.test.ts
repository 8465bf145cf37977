import type { AddressInfo } from "node:net";
import { type SseEvent, eventually, json, readSse } from "@llmq/testkit";
import { FAST_AND_SLOW_MODELS, type TestStack, startTestStack } from "@llmq/stack";
import express from "express";
import { streamTaskEvents } from "../src/flexstack/task-stream";

// gemma answers at once; llama writes 40 tokens a second, so a 40-token task runs for about a second.
const FAST_MODEL = "gemma-7b";
const SLOW_MODEL = "llama-3.1-8b-instruct";
const STREAM_ID = /^\d+-\d+$/;

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack({ models: FAST_AND_SLOW_MODELS });
});
afterAll(async () => {
  await stack.close();
});

function completionRequest(content: string, model: string, maxTokens: number) {
  return { messages: [{ role: "user", content }], configs: { model, max_tokens: maxTokens, temperature: 0 } };
}


async function getTask(taskId: string) {
  const res = await stack.request(`/v1/ai/tasks/${taskId}`);
  expect(res.status).toBe(200);
  return json(res);
}

function openEvents(taskId: string, headers: Record<string, string> = {}, query = ""): Promise<Response> {
  return stack.request(`/v1/ai/tasks/${taskId}/events${query}`, { headers });
}

/** Every event the API has for a finished task, from the start. */
async function fullReplay(taskId: string): Promise<SseEvent[]> {
  const res = await openEvents(taskId);
  expect(res.status).toBe(200);
  return readSse(res);
}

const data = (event: SseEvent) => JSON.parse(event.data);
const deltas = (events: SseEvent[]) =>
  events
    .filter((e) => e.event === "token")
    .map((e) => data(e).delta as string)
    .join("");

/** The shape every complete stream has: PENDING, RUNNING, tokens, COMPLETED, then the result envelope. */
function expectCompleteStream(events: SseEvent[], taskId: string) {
  const names = events.map((e) => e.event);
  expect(names[0]).toBe("status");
  expect(data(events[0]!)).toEqual({ task_id: taskId, status: "PENDING", attempt: 0 });
  expect(names[1]).toBe("status");
  expect(data(events[1]!)).toEqual({ task_id: taskId, status: "RUNNING", attempt: 1 });
  expect(names.slice(2, -2).every((name) => name === "token")).toBe(true);
  expect(names.slice(2, -2).length).toBeGreaterThan(0);
  expect(data(events[events.length - 2]!)).toEqual({ task_id: taskId, status: "COMPLETED", attempt: 1 });
  const result = events[events.length - 1]!;
  expect(result.event).toBe("result");
  expect(result.id).toBeUndefined();
  // Every event but the result is resumable, in stream order.
  const ids = events.slice(0, -1).map((e) => e.id ?? "");
  expect(ids.every((id) => STREAM_ID.test(id))).toBe(true);
  expect(new Set(ids).size).toBe(ids.length);
  const envelope = data(result);
  expect(envelope.status).toBe("success");
  expect(envelope.data.data.status).toBe("COMPLETED");
  expect(envelope.data.data.percent).toBe(100);
  expect(deltas(events)).toBe(envelope.data.data.response);
  return envelope;
}

describe("GET /v1/ai/tasks/{id}/events", () => {
  it("replays the whole history to a subscriber that arrives after completion, then closes", async () => {
    const submitted = await stack.request("/v1/ai/text_completion", {
      method: "POST",
      json: completionRequest("Tell me about queues.", FAST_MODEL, 64),
    });
    const done = await json(submitted);
    expect(done.data.data.status).toBe("COMPLETED");
    const taskId: string = done.data.data.task_id;

    const res = await openEvents(taskId);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/event-stream");
    // readSse returns only once the server ends the response.
    const events = await readSse(res);
    const envelope = expectCompleteStream(events, taskId);
    expect(envelope.data.data.response).toBe(done.data.data.response);
    // Token events carry the running count and a percent that grows and stays below 100.
    const tokens = events.filter((e) => e.event === "token").map(data);
    expect(tokens.map((t) => t.tokens)).toEqual(tokens.map((_, index) => index + 1));
    const percents = tokens.map((t) => t.percent as number);
    expect([...percents].sort((a, b) => a - b)).toEqual(percents);
    expect(percents.every((p) => p >= 0 && p < 100)).toBe(true);
    // The result is the same envelope a GET answers.
    const polled = await getTask(taskId);
    expect(envelope.data.data).toEqual(polled.data.data);
    expect(envelope.data.configs).toEqual(polled.data.configs);
  });

  it("gives a subscriber that joins mid-run everything, from the start", async () => {
    const taskId = await stack.submitAsync(completionRequest("Join me halfway.", SLOW_MODEL, 40));
    // Joins once the worker has written some of the answer to Postgres.
    await eventually(async () => {
      const task = (await getTask(taskId)).data.data;
      return task.status === "RUNNING" && task.response !== "" ? task : undefined;
    }, { what: "the slow task to be running with some output" });

    const live = await readSse(await openEvents(taskId));
    const envelope = expectCompleteStream(live, taskId);
    expect(envelope.data.data.usage.completion_tokens).toBe(40);
    expect(envelope.data.data.finish_reason).toBe("length");
    expect(live.filter((e) => e.event === "token")).toHaveLength(40);
    // What the live subscriber saw is exactly what a later replay holds.
    const replay = await fullReplay(taskId);
    expect(live.map((e) => e.id)).toEqual(replay.map((e) => e.id));
    expect(live.slice(0, -1).map((e) => e.data)).toEqual(replay.slice(0, -1).map((e) => e.data));
  });

  it("resumes after Last-Event-ID with exactly the events that follow it", async () => {
    const submitted = await stack.request("/v1/ai/text_completion", {
      method: "POST",
      json: completionRequest("Resume from anywhere.", FAST_MODEL, 48),
    });
    const taskId: string = (await json(submitted)).data.data.task_id;
    const replay = await fullReplay(taskId);
    expectCompleteStream(replay, taskId);
    const resumable = replay.slice(0, -1);

    // The first, second, a middle and the last resumable event (the last leaves only the result).
    const positions = [0, 1, Math.floor(resumable.length / 2), resumable.length - 1];
    for (const k of positions) {
      const after = resumable[k]!.id!;
      const res = await openEvents(taskId, { "Last-Event-ID": after });
      expect(res.status).toBe(200);
      const resumed = await readSse(res);
      expect(resumed[resumed.length - 1]!.event).toBe("result");
      expect(resumed.slice(0, -1).map((e) => e.id)).toEqual(resumable.slice(k + 1).map((e) => e.id));
      expect(resumed.slice(0, -1).map((e) => e.data)).toEqual(resumable.slice(k + 1).map((e) => e.data));
    }

    // `?last_event_id=` does the same for clients that cannot set headers.
    const viaQuery = await readSse(await openEvents(taskId, {}, `?last_event_id=${resumable[2]!.id}`));
    expect(viaQuery.slice(0, -1).map((e) => e.id)).toEqual(resumable.slice(3).map((e) => e.id));
  });

  it("lets a client that dropped mid-run reconnect with Last-Event-ID and miss nothing", async () => {
    const taskId = await stack.submitAsync(completionRequest("Reconnect while I write.", SLOW_MODEL, 40));
    let tokensSeen = 0;
    const first = await readSse(await openEvents(taskId), {
      until: (event) => event.event === "token" && ++tokensSeen === 3,
    });
    expect(first.map((e) => e.event)).toEqual(["status", "status", "token", "token", "token"]);
    const lastSeen = first[first.length - 1]!.id!;

    const second = await readSse(await openEvents(taskId, { "Last-Event-ID": lastSeen }));
    const joined = [...first, ...second];
    const envelope = expectCompleteStream(joined, taskId);
    expect(envelope.data.data.usage.completion_tokens).toBe(40);
    const replay = await fullReplay(taskId);
    expect(joined.map((e) => e.id)).toEqual(replay.map((e) => e.id));
  });

  it("answers just the result for a finished task whose event stream has expired", async () => {
    const submitted = await stack.request("/v1/ai/text_completion", {
      method: "POST",
      json: completionRequest("Long ago.", FAST_MODEL, 8),
    });
    const done = (await json(submitted)).data.data;
    const replay = await fullReplay(done.task_id);
    // What the stream's one-hour expiry would do.
    await stack.api.deps.redis.del(stack.api.deps.keys.taskEvents(done.task_id));

    const resumes: Record<string, string>[] = [{}, { "Last-Event-ID": replay[1]!.id! }];
    for (const headers of resumes) {
      const events = await readSse(await openEvents(done.task_id, headers));
      expect(events.map((e) => e.event)).toEqual(["result"]);
      expect(data(events[0]!).data.data).toMatchObject({ task_id: done.task_id, status: "COMPLETED", response: done.response });
    }
  });

  it("gives a stream opened between the commit that ended a task and the append of its last events those events", async () => {
    // The engine appends a task's last events (its final status, then `final`) just after the commit that
    // ended it. A client whose stream opens in between reads a final row and a log without them.
    const submitted = await stack.request("/v1/ai/text_completion", { method: "POST", json: completionRequest("Just now.", FAST_MODEL, 8) });
    const done = (await json(submitted)).data.data;
    const entries = await stack.api.deps.log.readAfter(done.task_id, "0");
    const last = entries.slice(-2);
    expect(last.map((entry) => entry.event.type)).toEqual(["status", "final"]);
    await stack.api.deps.redis.xdel(stack.api.deps.keys.taskEvents(done.task_id), ...last.map((entry) => entry.id));

    const stream = openEvents(done.task_id).then((res) => readSse(res));
    // The append, a moment after the stream opened.
    await new Promise((resolve) => setTimeout(resolve, 300));
    await stack.api.deps.log.append(done.task_id, last.map((entry) => entry.event));
    const events = await stream;
    expectCompleteStream(events, done.task_id);
  });

  it("rejects a Last-Event-ID that is not a stream id with a 400 naming it", async () => {
    const submitted = await stack.request("/v1/ai/text_completion", {
      method: "POST",
      json: completionRequest("Bad resume points.", FAST_MODEL, 8),
    });
    const taskId: string = (await json(submitted)).data.data.task_id;

    const attempts: [Record<string, string>, string][] = [
      [{ "Last-Event-ID": "not-an-id" }, ""],
      [{ "Last-Event-ID": "17000000000001" }, ""],
      [{ "Last-Event-ID": "1-2-3" }, ""],
      [{}, "?last_event_id=yesterday"],
    ];
    for (const [headers, query] of attempts) {
      const res = await openEvents(taskId, headers, query);
      expect(res.status).toBe(400);
      expect(res.headers.get("content-type")).toContain("application/json");
      const body = await json(res);
      expect(body.status).toBe("error");
      expect(body.data).toBeNull();
      expect(body.errors).toHaveLength(1);
      expect(body.errors[0]).toMatchObject({ code: "invalid_request", param: "Last-Event-ID" });
      expect(body.error_description).toBe(body.errors[0].message);
    }
  });

  it("answers 404 for the events of a task that does not exist", async () => {
    const res = await openEvents("0123456789abcdef0123456789abcdef");
    expect(res.status).toBe(404);
    const body = await json(res);
    expect(body.status).toBe("error");
    expect(body.errors[0]).toMatchObject({ code: "task_not_found", param: "task_id" });
  });

  it("keeps running a task whose ?stream=true client went away", async () => {
    const res = await stack.request("/v1/ai/text_completion?stream=true", {
      method: "POST",
      json: completionRequest("I will hang up early.", SLOW_MODEL, 40),
    });
    expect(res.status).toBe(200);
    const taskId = res.headers.get("x-task-id")!;
    const seen = await readSse(res, { until: (event) => event.event === "token" });
    expect(seen[seen.length - 1]!.event).toBe("token");

    // The server notices the disconnect and drops its subscription...
    await eventually(async () => (stack.api.deps.hub.listenerCount() === 0 ? true : undefined), {
      what: "the API to drop the stream of the departed client",
    });
    // ...but the task carries on to the end.
    const done = await eventually(async () => {
      const body = await getTask(taskId);
      return body.data.data.status === "RUNNING" || body.data.data.status === "PENDING" ? undefined : body;
    }, { what: "the task to finish" });
    expect(done.data.data.status).toBe("COMPLETED");
    expect(done.data.data.percent).toBe(100);
    expect(done.data.data.attempts).toBe(1);
    expect(done.data.data.usage.completion_tokens).toBe(40);
    expect(done.data.data.response.startsWith(deltas(seen))).toBe(true);
  });

  it("follows nothing for a client that left while the route was still loading the task", async () => {
    // Over the API the window (between the request and the stream opening) is too short to hit on
    // purpose, so a real server runs the stream only once its client has gone.
    const taskId = await stack.submitAsync(completionRequest("Gone before the stream opens.", SLOW_MODEL, 40));
    const task = (await stack.api.deps.tasks.findById(taskId))!;
    const { hub, log, taskService, models, streamGuard } = stack.api.deps;
    const streamDeps = { hub, log, taskService, modelOf: (id: string) => models.byId.get(id), streamGuard };
    let arrived!: () => void;
    const requestArrived = new Promise<void>((resolve) => (arrived = resolve));
    let report!: (listeners: number) => void;
    const listenersAfterStream = new Promise<number>((resolve) => (report = resolve));
    const app = express();
    app.get("/follow", (req, res) => {
      res.locals.principal = { userId: task.ownerId, isAdmin: true, keyId: null };
      res.locals.startedAt = new Date();
      res.on("close", () =>
        setImmediate(() => {
          streamTaskEvents(req, res, task, "0", streamDeps);
          report(hub.listenerCount());
        }),
      );
      arrived();
    });
    const server = app.listen(0, "127.0.0.1");
    await new Promise<void>((resolve) => server.once("listening", () => resolve()));
    try {
      const client = new AbortController();
      const pending = fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/follow`, { signal: client.signal }).catch(() => null);
      await requestArrived;
      client.abort();
      await pending;
      expect(await listenersAfterStream).toBe(0);
      expect(streamGuard.size()).toBe(0);
    } finally {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    }
    // The task itself is untouched by all this.
    const done = await eventually(async () => {
      const body = await getTask(taskId);
      return body.data.data.status === "COMPLETED" ? body : undefined;
    }, { what: "the task to complete" });
    expect(done.data.data.percent).toBe(100);
  });

  it("shows percent growing while a task runs, and 100 once COMPLETED", async () => {
    const taskId = await stack.submitAsync(completionRequest("Count my progress.", SLOW_MODEL, 40));
    const observed: { status: string; percent: number; response: string }[] = [];
    const final = await eventually(
      async () => {
        const task = (await getTask(taskId)).data.data;
        observed.push({ status: task.status, percent: task.percent, response: task.response });
        return task.status === "COMPLETED" ? task : undefined;
      },
      { intervalMs: 20, what: "the slow task to complete" },
    );
    expect(final.percent).toBe(100);
    const percents = observed.map((o) => o.percent);
    expect([...percents].sort((a, b) => a - b)).toEqual(percents);
    const midway = observed.filter((o) => o.status === "RUNNING" && o.percent > 0 && o.percent < 100);
    expect(midway.length).toBeGreaterThan(0);
    expect(observed.filter((o) => o.status !== "COMPLETED").every((o) => o.percent < 100)).toBe(true);
    // What was polled while running is always the beginning of the final answer.
    expect(midway.every((o) => o.response !== "" && final.response.startsWith(o.response))).toBe(true);
  });
});
