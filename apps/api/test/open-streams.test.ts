import type { IncomingMessage } from "node:http";
import v8 from "node:v8";
import { runInNewContext } from "node:vm";
import { createRedis } from "@llmq/queue";
import { eventually, json, redisReady, testRedisUrl } from "@llmq/testkit";
import { type TestStack, startTestStack } from "@llmq/stack";
import { loadApiEnv } from "../src/env";
import { startApi } from "../src/server";

// No worker serves this model: its tasks stay PENDING, so their streams and waits stay open.
const IDLE = "idle-model";
const FAST = "gemma-7b";
const MODELS = {
  providers: { fast: { type: "simulated", first_token_ms: 5, tokens_per_second: 2000 } },
  models: [
    { id: FAST, provider: "fast", concurrency: 8 },
    { id: IDLE, provider: "fast" },
  ],
};

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack({ models: MODELS, env: { WORKER_MODELS: FAST } });
});
afterAll(async () => {
  await stack.close();
});

const task = (model: string) => ({ messages: [{ role: "user", content: `to ${model}` }], configs: { model, max_tokens: 8 } });
const chat = (model: string, stream: boolean) => ({ model, messages: [{ role: "user", content: "hi" }], max_tokens: 8, stream });

/** A request held open by the API; `close` drops it the way a client that goes away does. */
interface Held {
  res: Response;
  close(): void;
}

async function hold(path: string, init: RequestInit & { key?: string; json?: unknown } = {}): Promise<Held> {
  const controller = new AbortController();
  const res = await stack.request(path, { ...init, signal: controller.signal });
  return {
    res,
    close: () => {
      controller.abort();
      void res.body?.cancel().catch(() => undefined);
    },
  };
}

async function newKey(limits: Record<string, number | null>, userId?: string): Promise<{ id: string; key: string; userId: string }> {
  const res = await stack.request("/v1/admin/keys", { method: "POST", json: { name: "streams", limits, ...(userId ? { user_id: userId } : {}) } });
  expect(res.status).toBe(201);
  const data = (await json(res)).data.data;
  return { id: data.id, key: data.key, userId: data.user_id };
}

async function taskCount(): Promise<number> {
  const rows = await stack.api.deps.db.$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM tasks`;
  return Number(rows[0]!.n);
}

/** Leases in Redis of a user (keyId null) or of one of its keys. */
const leases = (userId: string, keyId: string | null) => stack.api.deps.redis.zcard(stack.api.deps.keys.openStreams(userId, keyId));

const events = (taskId: string, key: string) => hold(`/v1/ai/tasks/${taskId}/events`, { key });

describe("max_open_streams: a key's open streams and synchronous waits", () => {
  it("the Flexstack dialect answers 429 past the limit with how many are open, and admits again once one closes", async () => {
    const { key, id, userId } = await newKey({ max_open_streams: 2 });
    const taskId = await stack.submitAsync(task(IDLE), key);
    const first = await events(taskId, key);
    const second = await events(taskId, key);
    expect([first.res.status, second.res.status]).toEqual([200, 200]);
    expect(await leases(userId, id)).toBe(2);

    const refused = await stack.request(`/v1/ai/tasks/${taskId}/events`, { key });
    expect(refused.status).toBe(429);
    expect(refused.headers.get("retry-after")).toBe("1");
    const body = await json(refused);
    expect(body.status).toBe("error");
    expect(body.errors[0].code).toBe("too_many_open_streams");
    expect(body.errors[0].message).toBe("This key has 2 open streams and synchronous requests waiting, its limit of 2 (max_open_streams); close one and retry.");

    // A synchronous submit would hold a connection too: refused before a task is written.
    const before = await taskCount();
    const sync = await stack.request("/v1/ai/text_completion", { method: "POST", json: task(IDLE), key });
    expect(sync.status).toBe(429);
    expect((await json(sync)).errors[0].code).toBe("too_many_open_streams");
    expect(await taskCount()).toBe(before);
    // An asynchronous submit holds nothing: still accepted.
    await stack.submitAsync(task(IDLE), key);

    first.close();
    const third = await eventually(async () => {
      const attempt = await events(taskId, key);
      if (attempt.res.status === 200) return attempt;
      expect(attempt.res.status).toBe(429);
      attempt.close();
      return undefined;
    }, { what: "a stream admitted again" });
    second.close();
    third.close();
    await eventually(async () => ((await leases(userId, id)) === 0 ? true : undefined), { what: "every lease given back" });
  });

  it("the OpenAI dialect answers 429 with an error object; streams and non-stream waits count together", async () => {
    const { key, id, userId } = await newKey({ max_open_streams: 2 });
    const stream = await hold("/v1/chat/completions", { method: "POST", json: chat(IDLE, true), key });
    expect(stream.res.status).toBe(200);
    // A non-stream completion waits for its task: the response has not even started.
    const waitingController = new AbortController();
    const waiting = stack.request("/v1/chat/completions", { method: "POST", json: chat(IDLE, false), key, signal: waitingController.signal }).catch(() => null);
    await eventually(async () => ((await leases(userId, id)) === 2 ? true : undefined), { what: "the wait holding a lease" });

    const before = await taskCount();
    const refused = await stack.request("/v1/chat/completions", { method: "POST", json: chat(IDLE, true), key });
    expect(refused.status).toBe(429);
    expect(refused.headers.get("retry-after")).toBe("1");
    const body = await json(refused);
    expect(body.error).toMatchObject({ type: "rate_limit_error", code: "too_many_open_streams" });
    expect(body.error.message).toContain("2 open streams and synchronous requests waiting, its limit of 2");
    const completion = await stack.request("/v1/completions", { method: "POST", json: { model: IDLE, prompt: "hi", max_tokens: 4 }, key });
    expect(completion.status).toBe(429);
    expect(await taskCount()).toBe(before);

    waitingController.abort();
    await waiting;
    const again = await eventually(async () => {
      const attempt = await hold("/v1/chat/completions", { method: "POST", json: chat(IDLE, true), key });
      if (attempt.res.status === 200) return attempt;
      attempt.close();
      return undefined;
    }, { what: "a stream admitted again" });
    stream.close();
    again.close();
    await eventually(async () => ((await leases(userId, id)) === 0 ? true : undefined), { what: "every lease given back" });
  });

  it("a user's limit holds over all its keys", async () => {
    const a = await newKey({ max_open_streams: 5 });
    const b = await newKey({ max_open_streams: 5 }, a.userId);
    const patched = await stack.request(`/v1/admin/users/${a.userId}`, { method: "PATCH", json: { limits: { max_open_streams: 2 } } });
    expect(patched.status).toBe(200);
    expect((await json(patched)).data.data.limits.max_open_streams).toBe(2);
    const taskId = await stack.submitAsync(task(IDLE), a.key);
    const one = await events(taskId, a.key);
    const two = await events(taskId, b.key);
    expect([one.res.status, two.res.status]).toEqual([200, 200]);
    const refused = await stack.request(`/v1/ai/tasks/${taskId}/events`, { key: b.key });
    expect(refused.status).toBe(429);
    expect((await json(refused)).errors[0].message).toBe(
      "This user (all its keys and sessions) has 2 open streams and synchronous requests waiting, its limit of 2 (max_open_streams); close one and retry.",
    );
    one.close();
    two.close();
  });

  it("keys show their limit, the deployment default where unset, and 0 turns it off", async () => {
    const created = await stack.request("/v1/admin/keys", { method: "POST", json: { name: "shown", limits: { max_open_streams: 7 } } });
    expect((await json(created)).data.data.limits.max_open_streams).toBe(7);
    const unlimited = await newKey({ max_open_streams: 0 });
    const taskId = await stack.submitAsync(task(IDLE), unlimited.key);
    const open = await Promise.all(Array.from({ length: 4 }, () => events(taskId, unlimited.key)));
    expect(open.map((held) => held.res.status)).toEqual([200, 200, 200, 200]);
    for (const held of open) held.close();
  });

  it("gives every slot back however the request ends: finished, client gone, task ended, synchronous answer", async () => {
    await eventually(async () => (stack.api.deps.openStreams.size() === 0 ? true : undefined), { what: "earlier tests' streams closed" });
    const { key, id, userId } = await newKey({ max_open_streams: 50 });
    const idleTask = await stack.submitAsync(task(IDLE), key);
    // Client gone: 20 streams dropped at once.
    const dropped = await Promise.all(Array.from({ length: 20 }, () => events(idleTask, key)));
    expect(dropped.every((held) => held.res.status === 200)).toBe(true);
    expect(await leases(userId, id)).toBe(20);
    expect(stack.api.deps.openStreams.size()).toBe(20);
    for (const held of dropped) held.close();
    await eventually(async () => ((await leases(userId, id)) === 0 && stack.api.deps.openStreams.size() === 0 ? true : undefined), { what: "leases of dropped streams" });

    // Finished: streams and synchronous answers of tasks that end.
    const streamed = await stack.request("/v1/ai/text_completion?stream=true", { method: "POST", json: task(FAST), key });
    expect(streamed.status).toBe(200);
    expect(await streamed.text()).toContain("event: result");
    const synced = await stack.request("/v1/chat/completions", { method: "POST", json: chat(FAST, false), key });
    expect(synced.status).toBe(200);
    const waited = await stack.request("/v1/ai/text_completion?wait=10", { method: "POST", json: task(FAST), key });
    expect(waited.status).toBe(200);
    // Ended from elsewhere: a cancelled task closes its followers.
    const cancelled = await stack.submitAsync(task(IDLE), key);
    const follower = await events(cancelled, key);
    expect((await stack.request(`/v1/ai/tasks/${cancelled}/cancel`, { method: "POST", key })).status).toBe(200);
    expect(await follower.res.text()).toContain("event: result");
    // A request refused after taking its slot (an unknown model, in either dialect) gives it back.
    expect((await stack.request("/v1/ai/text_completion", { method: "POST", json: task("no-such-model"), key })).status).toBe(404);
    expect((await stack.request("/v1/chat/completions", { method: "POST", json: chat("no-such-model", true), key })).status).toBe(404);
    // A wait that times out answers the task as it stands and gives its slot back too.
    const timedOut = await stack.request("/v1/ai/text_completion?wait=0.2", { method: "POST", json: task(IDLE), key });
    expect(timedOut.status).toBe(200);
    await eventually(async () => ((await leases(userId, id)) === 0 && stack.api.deps.openStreams.size() === 0 ? true : undefined), { what: "every lease given back" });
  });
});

describe("max_open_streams over several API processes", () => {
  it("counts a key's streams on every process: one open on each, the next refused on either", async () => {
    // A second API process of the same deployment: same database, same Redis prefix.
    const second = await startApi(loadApiEnv(stack.env), stack.env, { onResponse: stack.responses.observe });
    try {
      const { key, id, userId } = await newKey({ max_open_streams: 2 });
      const taskId = await stack.submitAsync(task(IDLE), key);
      const onFirst = await events(taskId, key);
      const controller = new AbortController();
      const onSecond = await fetch(`${second.url}/v1/ai/tasks/${taskId}/events`, { headers: { authorization: `Bearer ${key}` }, signal: controller.signal });
      expect([onFirst.res.status, onSecond.status]).toEqual([200, 200]);
      expect(await leases(userId, id)).toBe(2);
      const refusedHere = await stack.request(`/v1/ai/tasks/${taskId}/events`, { key });
      const refusedThere = await fetch(`${second.url}/v1/ai/tasks/${taskId}/events`, { headers: { authorization: `Bearer ${key}` } });
      expect([refusedHere.status, refusedThere.status]).toEqual([429, 429]);
      expect((await json(refusedThere)).errors[0].message).toContain("This key has 2 open streams");
      // The second process shuts down with its stream open: its lease goes with it.
      await second.close();
      controller.abort();
      expect(await leases(userId, id)).toBe(1);
      const admitted = await events(taskId, key);
      expect(admitted.res.status).toBe(200);
      onFirst.close();
      admitted.close();
    } finally {
      await second.close();
    }
  });
});

describe("the process ceiling (MAX_OPEN_STREAMS_PER_PROCESS)", () => {
  let small: TestStack;
  beforeAll(async () => {
    small = await startTestStack({ models: MODELS, worker: false, env: { MAX_OPEN_STREAMS_PER_PROCESS: "2" } });
  });
  afterAll(async () => {
    await small.close();
  });

  it("answers 503 with Retry-After in each dialect once the process holds its ceiling, even to the admin key", async () => {
    const taskId = await small.submitAsync(task(IDLE));
    const open = await Promise.all([0, 1].map(async () => {
      const controller = new AbortController();
      const res = await small.request(`/v1/ai/tasks/${taskId}/events`, { signal: controller.signal });
      return { res, controller };
    }));
    expect(open.map((held) => held.res.status)).toEqual([200, 200]);
    const metrics = await (await small.request("/metrics")).text();
    expect(metrics).toMatch(/^llmq_open_streams 2$/m);
    expect(metrics).toMatch(/^llmq_open_streams_ceiling 2$/m);

    const flexstack = await small.request(`/v1/ai/tasks/${taskId}/events`);
    expect(flexstack.status).toBe(503);
    expect(flexstack.headers.get("retry-after")).toBe("5");
    const envelope = await json(flexstack);
    expect(envelope.errors[0].code).toBe("too_many_open_streams_here");
    expect(envelope.errors[0].message).toContain("holds 2 open streams and waiting requests, its ceiling");

    const openai = await small.request("/v1/chat/completions", { method: "POST", json: chat(IDLE, true) });
    expect(openai.status).toBe(503);
    expect(openai.headers.get("retry-after")).toBe("5");
    expect((await json(openai)).error.code).toBe("too_many_open_streams_here");

    open[0]!.controller.abort();
    await eventually(async () => (small.api.deps.openStreams.size() === 1 ? true : undefined), { what: "a slot given back" });
    const again = await small.request(`/v1/ai/tasks/${taskId}/events`, { signal: AbortSignal.timeout(30_000) });
    expect(again.status).toBe(200);
    open[1]!.controller.abort();
    void again.body?.cancel().catch(() => undefined);
  });

  it("gives its leases back when the server shuts down with streams open", async () => {
    const other = await startTestStack({ models: MODELS, worker: false });
    try {
      const created = await other.request("/v1/admin/keys", { method: "POST", json: { name: "shutdown", limits: { max_open_streams: 10 } } });
      const { key, id, user_id: userId } = (await json(created)).data.data;
      const taskId = await other.submitAsync(task(IDLE), key);
      const open = await Promise.all(Array.from({ length: 3 }, () => other.request(`/v1/ai/tasks/${taskId}/events`, { key })));
      expect(open.map((res) => res.status)).toEqual([200, 200, 200]);
      const zset = other.api.deps.keys.openStreams(userId, id);
      expect(await other.api.deps.redis.zcard(zset)).toBe(3);
      // Ready before the API closes: a fail-fast command connection like the API's refuses a command sent
      // while its handshake is still under way (seen under load as "Stream isn't writeable ...").
      const redis = await redisReady(createRedis(testRedisUrl(), { name: "open-streams-check" }));
      try {
        await other.api.close();
        expect(await redis.zcard(zset)).toBe(0);
      } finally {
        redis.disconnect();
      }
    } finally {
      await other.close();
    }
  });
});

/** Two full garbage collections, from a fresh turn of the event loop (no WeakRef target kept for the current job). */
async function collectGarbage(): Promise<void> {
  v8.setFlagsFromString("--expose-gc");
  const gc = runInNewContext("gc") as () => void;
  await new Promise((resolve) => setImmediate(resolve));
  gc();
  gc();
}

describe("what an open stream keeps (memory per open stream, bench figure 6)", () => {
  it("none of its routing: every router's continuation is collected while the streams stay open, in both dialects", async () => {
    const { key, id, userId } = await newKey({ max_open_streams: 10 });
    const taskId = await stack.submitAsync(task(IDLE), key);
    // Express's routers hand each request their continuation in `req.next` (one per router it passes):
    // record each one, weakly, as it is assigned.
    const continuations: WeakRef<object>[] = [];
    const record = (req: IncomingMessage) => {
      let next: unknown;
      Object.defineProperty(req, "next", {
        configurable: true,
        get: () => next,
        set: (value: unknown) => {
          if (typeof value === "function") continuations.push(new WeakRef(value));
          next = value;
        },
      });
    };
    stack.api.server.prependListener("request", record);
    const streams: Held[] = [];
    try {
      streams.push(await events(taskId, key));
      streams.push(await hold("/v1/chat/completions", { method: "POST", json: chat(IDLE, true), key }));
      stack.api.server.off("request", record);
      expect(streams.map((stream) => stream.res.status)).toEqual([200, 200]);
      expect(continuations.length).toBeGreaterThanOrEqual(2);

      await collectGarbage();
      expect(await leases(userId, id)).toBe(2); // both streams still open
      expect(continuations.filter((continuation) => continuation.deref() !== undefined).length).toBe(0);
    } finally {
      stack.api.server.off("request", record);
      for (const stream of streams) stream.close();
    }
  });
});
