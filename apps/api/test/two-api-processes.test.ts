import { type PrivateRedis, type ServiceProcess, type SseEvent, eventually, json, readSse, spawnService, startPrivateRedis } from "@llmq/testkit";
import { FAST_AND_SLOW_MODELS, type TestStack, startTestStack } from "@llmq/stack";
import { EventSourceParserStream } from "eventsource-parser/stream";

// Issue 13: the API runs as several processes (API_PROCESSES, or several machines) over one Postgres and
// one Redis. Live lists, event streams, rate limits and credential changes go through Redis; here two
// real API processes prove it: A (in this process, with the worker) and B (a process of its own).
const SLOW_MODEL = "llama-3.1-8b-instruct";

let stack: TestStack;
let other: ServiceProcess;
/** This suite's own Redis: one test cuts every pub/sub connection on it, which must not reach other suites'. */
let redis: PrivateRedis;
/** Process B's base URL. */
let b: string;

beforeAll(async () => {
  redis = await startPrivateRedis();
  stack = await startTestStack({ models: FAST_AND_SLOW_MODELS, redisUrl: redis.url });
  // A long cache on B: only pub/sub (or a reconnect) can make it forget a key in these tests.
  other = await spawnService("apps/api/src/main.ts", { ...stack.env, PORT: "0", LOG_LEVEL: "info", API_PROCESSES: "1", API_KEY_CACHE_SECONDS: "600" }, /"msg":"api listening"/);
  b = /"url":"(http:\/\/[^"]+)"/.exec(other.output())![1]!;
}, 60_000);
afterAll(async () => {
  await other?.stop();
  await stack?.close();
  await redis?.destroy();
});

const a = () => stack.url;
const call = (base: string, path: string, init: { key?: string; method?: string; json?: unknown; headers?: Record<string, string>; signal?: AbortSignal } = {}) =>
  fetch(base + path, {
    method: init.method ?? (init.json === undefined ? "GET" : "POST"),
    headers: { authorization: `Bearer ${init.key ?? stack.adminKey}`, ...(init.json === undefined ? {} : { "content-type": "application/json" }), ...init.headers },
    body: init.json === undefined ? undefined : JSON.stringify(init.json),
    signal: init.signal,
  });
const request = (content: string, model = SLOW_MODEL, maxTokens = 40) => ({ messages: [{ role: "user", content }], configs: { model, max_tokens: maxTokens } });

/** A new user with one key (and these limits); its secret, key id and user id. */
async function newKey(name: string, limits?: Record<string, number>): Promise<{ secret: string; keyId: string; userId: string }> {
  const res = await call(a(), "/v1/admin/keys", { json: { name, ...(limits ? { limits } : {}) } });
  expect(res.status).toBe(201);
  const data = (await json(res)).data.data;
  return { secret: data.key, keyId: data.id, userId: data.user_id };
}

describe("two API processes over one Postgres and Redis", () => {
  it("a live task list opened on B sees a task submitted on A, from PENDING to COMPLETED", async () => {
    const abort = new AbortController();
    const res = await call(b, "/v1/ai/tasks/updates", { signal: abort.signal });
    expect(res.status).toBe(200);
    const rows: { task_id: string; status: string }[] = [];
    const reader = res.body!.pipeThrough(new TextDecoderStream()).pipeThrough(new EventSourceParserStream()).getReader();
    void (async () => {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        rows.push(JSON.parse(value.data) as { task_id: string; status: string });
      }
    })().catch(() => undefined);
    try {
      const submit = await call(a(), "/v1/ai/text_completion?async=true", { json: request("live list across processes", SLOW_MODEL, 8) });
      expect(submit.status).toBe(202);
      const taskId = (await json(submit)).data.data.task_id as string;
      await eventually(async () => rows.some((row) => row.task_id === taskId && row.status === "COMPLETED") || undefined, { what: "B's list showing A's task completed" });
      // The list sends a task's latest row (rows of one moment are coalesced), so its states may be skipped, not reordered.
      const statuses = rows.filter((row) => row.task_id === taskId).map((row) => row.status);
      const order = ["PENDING", "RUNNING", "COMPLETED"];
      expect(statuses.map((status) => order.indexOf(status))).toEqual([...statuses.map((status) => order.indexOf(status))].sort());
    } finally {
      abort.abort();
    }
  });

  it("an SSE stream dropped on A and resumed on B with Last-Event-ID continues without gap or duplicate", async () => {
    const taskId = await stack.submitAsync(request("resume me elsewhere"));
    let tokens = 0;
    const first = await readSse(await call(a(), `/v1/ai/tasks/${taskId}/events`), { until: (event) => event.event === "token" && ++tokens === 5 });
    const lastSeen = first[first.length - 1]!.id!;
    const resumed = await call(b, `/v1/ai/tasks/${taskId}/events`, { headers: { "Last-Event-ID": lastSeen } });
    expect(resumed.status).toBe(200);
    const second = await readSse(resumed);
    const joined: SseEvent[] = [...first, ...second];
    const ids = joined.map((event) => event.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(joined.filter((event) => event.event === "token")).toHaveLength(40);
    expect(joined[joined.length - 1]!.event).toBe("result");
    // Exactly the task's whole history, in order, as either process replays it.
    const replay = await readSse(await call(b, `/v1/ai/tasks/${taskId}/events`));
    expect(ids).toEqual(replay.map((event) => event.id));
    // The same events; the final envelope differs only in its request's own start and end times.
    expect(joined.slice(0, -1).map((event) => event.data)).toEqual(replay.slice(0, -1).map((event) => event.data));
  });

  it("rate limits count the submissions made on both processes together", async () => {
    const { secret } = await newKey("rate-limited", { rate_limit_per_minute: 4 });
    const submit = (base: string) => call(base, "/v1/ai/text_completion?async=true", { key: secret, json: request("count me", "gemma-7b", 2) });
    expect([(await submit(a())).status, (await submit(b)).status, (await submit(a())).status, (await submit(b)).status]).toEqual([202, 202, 202, 202]);
    const refusedOnB = await submit(b);
    expect(refusedOnB.status).toBe(429);
    expect((await json(refusedOnB)).errors[0].code).toBe("rate_limit_exceeded");
    expect((await submit(a())).status).toBe(429);
  });
});

describe("the cache of resolved API keys across processes", () => {
  it("a key revoked on A is refused by B's very next request while B polls with it", async () => {
    const { secret, keyId } = await newKey("polled-then-revoked");
    const taskId = await stack.submitAsync(request("poll me", "gemma-7b", 2), secret);
    const results: { sentAt: number; status: number }[] = [];
    let revokedAt = Infinity;
    const poller = (async () => {
      while (results.filter((r) => r.sentAt >= revokedAt).length < 20) {
        const sentAt = performance.now();
        const res = await call(b, `/v1/ai/tasks/${taskId}`, { key: secret });
        await res.arrayBuffer();
        results.push({ sentAt, status: res.status });
      }
    })();
    await eventually(async () => results.filter((r) => r.status === 200).length >= 20 || undefined, { what: "B answering the key from its cache" });
    const revoke = await call(a(), `/v1/admin/keys/${keyId}`, { method: "DELETE" });
    expect(revoke.status).toBe(200);
    revokedAt = performance.now();
    await poller;
    const after = results.filter((r) => r.sentAt >= revokedAt);
    expect(after).toHaveLength(20);
    expect(after.filter((r) => r.status !== 401)).toEqual([]);
    expect(results.filter((r) => r.status !== 200 && r.status !== 401)).toEqual([]);
  });

  it("a user deleted, or promoted to admin, on A is seen by B's next request", async () => {
    const deleted = await newKey("to-delete");
    const promoted = await newKey("to-promote");
    for (let i = 0; i < 3; i++) {
      expect((await call(b, "/v1/ai/tasks", { key: deleted.secret })).status).toBe(200);
      expect((await call(b, "/v1/admin/keys", { key: promoted.secret })).status).toBe(403);
    }
    expect((await call(a(), `/v1/admin/users/${deleted.userId}`, { method: "DELETE" })).status).toBe(200);
    expect((await call(b, "/v1/ai/tasks", { key: deleted.secret })).status).toBe(401);
    expect((await call(a(), `/v1/admin/users/${promoted.userId}`, { method: "PATCH", json: { is_admin: true } })).status).toBe(200);
    expect((await call(b, "/v1/admin/keys", { key: promoted.secret })).status).toBe(200);
  });

  it("a key's limits changed on A apply to B's next request", async () => {
    const { secret, keyId } = await newKey("limits-change", { rate_limit_per_minute: 100 });
    const submit = () => call(b, "/v1/ai/text_completion?async=true", { key: secret, json: request("limit me", "gemma-7b", 2) });
    expect((await submit()).status).toBe(202);
    expect((await submit()).status).toBe(202);
    expect((await call(a(), `/v1/admin/keys/${keyId}`, { method: "PATCH", json: { limits: { rate_limit_per_minute: 2 } } })).status).toBe(200);
    expect((await submit()).status).toBe(429);
  });

  it("serves a key from memory, and drops every key when its subscriber reconnects (messages sent meanwhile are lost)", async () => {
    const { secret, keyId } = await newKey("revoked-behind-the-api");
    expect((await call(b, "/v1/ai/tasks", { key: secret })).status).toBe(200);
    // Revoked in SQL, not through the API: nothing is announced, and B keeps answering from its cache.
    await stack.api.deps.db.$executeRaw`UPDATE api_keys SET revoked_at = now() WHERE id = ${keyId}::uuid`;
    expect((await call(a(), "/v1/ai/tasks", { key: secret })).status).toBe(401);
    for (let i = 0; i < 3; i++) expect((await call(b, "/v1/ai/tasks", { key: secret })).status).toBe(200);
    // Every pub/sub connection of this suite's Redis is cut (A's and B's): B cannot know what it missed, so
    // it forgets all keys.
    await stack.api.deps.redis.call("CLIENT", "KILL", "TYPE", "pubsub");
    await eventually(async () => (await call(b, "/v1/ai/tasks", { key: secret })).status === 401 || undefined, { what: "B forgetting the key after reconnecting", timeoutMs: 10_000 });
    // And once it listens again it caches again: a live key still works on both.
    const live = await newKey("live-after-reconnect");
    await eventually(async () => (await call(b, "/v1/ai/tasks", { key: live.secret })).status === 200 || undefined, { what: "B answering a live key" });
  });
});
