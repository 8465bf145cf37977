import type { TaskEventEntry } from "@llmq/queue";
import { type OpenAIFixture, type RecordedRequest, type ServiceProcess, type SseEvent, eventually, json, readSse, spawnService, startOpenAIFixture } from "@llmq/testkit";
import type { TaskRecord } from "@llmq/db";
import { type TestStack, startTestStack } from "@llmq/stack";
import { EventSourceParserStream } from "eventsource-parser/stream";

// Issue 17, "many processes, many machines": two API processes and three worker processes, each an OS
// process of its own (as on separate machines), over one Postgres and one Redis. Nothing is shared
// between them but those two: no test talks to the stack's in-process API, which is only this test's
// window on the rows (Postgres) and the event streams (Redis).
//
// The worker "hosts": A serves only model-x, B only model-y, C both. Each host calls the upstream with a
// key of its own (the models file's `api_key_env`, as each GPU host has its own credentials for its local
// vLLM), so the upstream itself (the OpenAI fixture, over real HTTP) tells which host ran each request.
// Their leases are lowered to 2 s (LOCK_DURATION_MS, renewed every third of it) and a silent worker is
// judged dead after 3 s (WORKER_DEAD_AFTER_MS): a paused host's task is taken over within a few seconds.
//
// Already proven elsewhere and not repeated here: a key revoked on one API process is refused by the other
// (two-api-processes.test.ts), `max_open_streams` counted over processes (open-streams.test.ts), a worker
// SIGKILLed mid-task or SIGTERMed under load (apps/worker/test/worker-faults.test.ts).
const X = "model-x";
const Y = "model-y";
const LEASE_MS = 2_000;
const DEAD_AFTER_MS = 3_000;
const HOST_KEYS = { A: "host-a-key", B: "host-b-key", C: "host-c-key" } as const;
type Host = keyof typeof HOST_KEYS;

let fixture: OpenAIFixture;
let stack: TestStack;
/** Base URLs of the two API processes. */
let one: string;
let two: string;
const hosts = new Map<Host, ServiceProcess>();

/** Starts worker host `host` (its models, its own upstream key) and waits until it is ready. */
async function spawnHost(host: Host): Promise<ServiceProcess> {
  if (hosts.has(host)) throw new Error(`host ${host} is running already`);
  const models = { A: X, B: Y, C: `${X},${Y}` }[host];
  const worker = await spawnService(
    "apps/worker/src/main.ts",
    { ...stack.env, LOG_LEVEL: "info", WORKER_MODELS: models, HOST_UPSTREAM_KEY: HOST_KEYS[host], LOCK_DURATION_MS: String(LEASE_MS), WORKER_DEAD_AFTER_MS: String(DEAD_AFTER_MS) },
    /worker ready/,
  );
  hosts.set(host, worker);
  return worker;
}

beforeAll(async () => {
  fixture = await startOpenAIFixture();
  stack = await startTestStack({
    worker: false,
    models: {
      providers: { hosts: { type: "openai", base_url: fixture.url, api_key_env: "HOST_UPSTREAM_KEY", timeout_ms: 30_000 } },
      models: [
        { id: X, provider: "hosts", upstream_model: "upstream-x", concurrency: 2 },
        { id: Y, provider: "hosts", upstream_model: "upstream-y", concurrency: 2 },
      ],
    },
    env: { WORKER_DEAD_AFTER_MS: String(DEAD_AFTER_MS) },
  });
  // Two cores: start them two at a time. Their answers are held against the routes' declarations
  // (stack.close() fails on any that breaks one), as the in-process API's are.
  const [first, second] = await Promise.all([stack.spawnApi(), stack.spawnApi()]);
  one = first.url;
  two = second.url;
  await Promise.all([spawnHost("A"), spawnHost("B")]);
  await spawnHost("C");
}, 90_000);

afterAll(async () => {
  // A host a failed test left stopped would never see SIGTERM: wake every one first (harmless when running).
  for (const worker of hosts.values()) worker.child.kill("SIGCONT");
  await Promise.all([...hosts.values()].map((worker) => worker.stop()));
  await stack?.close();
  await fixture?.close();
});

const call: TestStack["requestTo"] = (base, path, init) => stack.requestTo(base, path, init);

/**
 * A prompt the fixture echoes word by word: `tag` and `words` more words, each token `delayMs` apart. The
 * tag finds the task's upstream requests among the fixture's.
 */
const prompt = (tag: string, words: number, delayMs: number) => `${tag} ${Array.from({ length: words }, (_, i) => `w${i}`).join(" ")} [[fixture:tokenDelayMs=${delayMs}]]`;
const taskRequest = (content: string, model: string) => ({ messages: [{ role: "user", content }], configs: { model, max_tokens: 200 } });

/** Submits in the task dialect with `?async=true` on `base`; the task id. */
async function submit(base: string, content: string, model: string, key?: string): Promise<string> {
  const res = await call(base, "/v1/ai/text_completion?async=true", { key, json: taskRequest(content, model) });
  expect(res.status).toBe(202);
  return (await json(res)).data.data.task_id as string;
}

/** Submits a chat completion in the OpenAI dialect with `Prefer: respond-async` on `base`; the task id. */
async function submitChat(base: string, content: string, model: string, key?: string): Promise<string> {
  const res = await call(base, "/v1/chat/completions", { key, json: { model, messages: [{ role: "user", content }], max_tokens: 200 }, headers: { prefer: "respond-async" } });
  expect(res.status).toBe(202);
  return res.headers.get("x-task-id")!;
}

const taskOf = async (taskId: string): Promise<TaskRecord> => (await stack.api.deps.tasks.findById(taskId))!;
const waitForTask = (taskId: string, check: (task: TaskRecord) => boolean, what: string, timeoutMs = 20_000) =>
  eventually(async () => {
    const task = await taskOf(taskId);
    return check(task) ? task : undefined;
  }, { what: `task ${taskId}: ${what}`, timeoutMs });

/** The upstream requests whose prompt starts with `tag`, in order. */
const upstreamRequests = (tag: string): RecordedRequest[] =>
  fixture.requests.filter((request) => {
    const messages = (request.body as { messages?: { content?: unknown }[] } | null)?.messages ?? [];
    return messages.some((message) => typeof message.content === "string" && message.content.startsWith(`${tag} `));
  });
/** Which host sent an upstream request: the key it called with. */
const hostOf = (request: RecordedRequest): Host => {
  const key = String(request.headers.authorization ?? "").replace(/^Bearer /, "");
  const host = (Object.keys(HOST_KEYS) as Host[]).find((name) => HOST_KEYS[name] === key);
  if (!host) throw new Error(`an upstream request with an unknown key: ${key}`);
  return host;
};
const modelOf = (request: RecordedRequest) => (request.body as { model: string }).model;

/** The task's whole event stream as stored in Redis, once it holds the final event. */
const storedEvents = (taskId: string): Promise<TaskEventEntry[]> =>
  eventually(async () => {
    const entries = await stack.api.deps.log.readAfter(taskId, "0", 10_000);
    return entries.some((entry) => entry.event.type === "final") ? entries : undefined;
  }, { what: `the final event of ${taskId}` });

/** A live task list (`GET /v1/ai/tasks/updates`) kept open in the background, collecting its rows. */
async function openList(base: string, key?: string) {
  const abort = new AbortController();
  const res = await call(base, "/v1/ai/tasks/updates", { key, signal: abort.signal });
  expect(res.status).toBe(200);
  const rows: { task_id: string; owner_id: string; status: string; response: string | null }[] = [];
  const reader = res.body!.pipeThrough(new TextDecoderStream()).pipeThrough(new EventSourceParserStream()).getReader();
  void (async () => {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      if (value.event === "task") rows.push(JSON.parse(value.data));
    }
  })().catch(() => undefined);
  return {
    rows,
    statusesOf: (taskId: string) => rows.filter((row) => row.task_id === taskId).map((row) => row.status),
    close: () => abort.abort(),
  };
}

const ORDER = ["PENDING", "RUNNING", "COMPLETED", "FAILED", "CANCELLED", "EXPIRED"];
/** A list's states of one task only move forward (rows of one moment are coalesced: states may be skipped, never reordered). */
const expectForward = (statuses: string[]) => {
  const ranks = statuses.map((status) => Math.min(ORDER.indexOf(status), 2));
  expect(ranks).toEqual([...ranks].sort());
};

/** The statuses without repeats (a row is sent again when only its progress or usage changed). */
const changes = (statuses: string[]) => statuses.filter((status, i) => status !== statuses[i - 1]);

/** A new user with one key and these limits: its secret and ids. */
async function newKey(name: string, limits: Record<string, number> = {}): Promise<{ secret: string; keyId: string; userId: string }> {
  const res = await call(one, "/v1/admin/keys", { json: { name, limits } });
  expect(res.status).toBe(201);
  const data = (await json(res)).data.data;
  return { secret: data.key, keyId: data.id, userId: data.user_id };
}

describe("a task across both API processes", () => {
  it("submitted on API 1, is streamed on API 2, dropped and resumed with Last-Event-ID on API 2 then on API 1, without gap or duplicate", async () => {
    const taskId = await submit(one, prompt("stream-across", 30, 30), X);
    let tokens = 0;
    const first = await readSse(await call(two, `/v1/ai/tasks/${taskId}/events`), { until: (event) => event.event === "token" && ++tokens === 5 });
    const second = await readSse(await call(two, `/v1/ai/tasks/${taskId}/events`, { headers: { "Last-Event-ID": first.at(-1)!.id! } }), {
      until: (event) => event.event === "token" && ++tokens === 15,
    });
    const resumed = await call(one, `/v1/ai/tasks/${taskId}/events`, { headers: { "Last-Event-ID": second.at(-1)!.id! } });
    expect(resumed.status).toBe(200);
    const third = await readSse(resumed);
    // The drops really were mid-stream: each part holds tokens (32 in all), and only the last one ends.
    expect([first, second, third].map((part) => part.filter((event) => event.event === "token").length)).toEqual([5, 10, 17]);
    expect([first, second, third].map((part) => part.at(-1)!.event)).toEqual(["token", "token", "result"]);

    const joined: SseEvent[] = [...first, ...second, ...third];
    const ids = joined.map((event) => event.id);
    expect(new Set(ids).size).toBe(ids.length);
    // Exactly the task's whole history, in order, as either process replays it from the start.
    const replays = await Promise.all([one, two].map(async (base) => readSse(await call(base, `/v1/ai/tasks/${taskId}/events`))));
    for (const replay of replays) {
      expect(ids).toEqual(replay.map((event) => event.id));
      expect(joined.slice(0, -1).map((event) => event.data)).toEqual(replay.slice(0, -1).map((event) => event.data));
    }
    const done = await taskOf(taskId);
    expect(done).toMatchObject({ status: "COMPLETED", attempts: 1 });
    const text = joined.filter((event) => event.event === "token").map((event) => JSON.parse(event.data).delta as string).join("");
    expect(text).toBe(done.response);
    expect(done.response).toBe(`Echo: stream-across ${Array.from({ length: 30 }, (_, i) => `w${i}`).join(" ")}`);
  });

  it("submitted on API 1 and cancelled through API 2 while RUNNING on a worker: its upstream request ends, no other starts, CANCELLED once", async () => {
    const taskId = await submit(one, prompt("cancel-across", 60, 100), X);
    await waitForTask(taskId, (task) => task.status === "RUNNING" && task.completionTokens >= 3, "running with some tokens");
    const [request] = upstreamRequests("cancel-across");
    const ranOn = hostOf(request!);
    expect(["A", "C"]).toContain(ranOn);
    const abortedBefore = fixture.abortedRequests();

    const cancelled = await call(two, `/v1/ai/tasks/${taskId}/cancel`, { method: "POST" });
    expect(cancelled.status).toBe(200);
    expect((await json(cancelled)).data.data.status).toBe("CANCELLED");

    // The worker keeps what the attempt generated, then says so (output_kept): by then it has stopped.
    const events = (await eventually(async () => {
      const entries = await stack.api.deps.log.readAfter(taskId, "0", 10_000);
      return entries.some((entry) => entry.event.type === "output_kept") ? entries : undefined;
    }, { what: "the cancelled attempt's output kept" })).map((entry) => entry.event);
    // The upstream saw its request end before its answer did (the worker closed it), and nothing is in flight.
    await eventually(async () => (fixture.abortedRequests() === abortedBefore + 1 && fixture.inFlight() === 0) || undefined, { what: "the upstream request closed by the worker" });
    expect(upstreamRequests("cancel-across")).toHaveLength(1);
    expect(events.filter((event) => event.type === "final")).toEqual([{ type: "final", status: "CANCELLED", outputPending: true }]);
    expect(events.filter((event) => event.type === "status" && event.status === "CANCELLED")).toHaveLength(1);
    expect(events.filter((event) => event.type === "output_kept")).toEqual([{ type: "output_kept", attempt: 1 }]);
    const task = await taskOf(taskId);
    expect(task).toMatchObject({ status: "CANCELLED", attempts: 1 });
    // Cut short: fewer tokens than the 62 the whole answer has, and what it had is kept.
    expect(task.completionTokens).toBeGreaterThanOrEqual(3);
    expect(task.completionTokens).toBeLessThan(62);
    expect(task.response.startsWith("Echo: cancel-across")).toBe(true);
    // Both processes answer the same final state.
    for (const base of [one, two]) expect((await json(await call(base, `/v1/ai/tasks/${taskId}`))).data.data).toMatchObject({ status: "CANCELLED", attempts: 1 });
  });
});

describe("live task lists on both API processes", () => {
  it("see every change of tasks submitted on either, in both dialects, the cancel included", async () => {
    const tenant = await newKey("live-lists");
    // The admin's list on API 1 and the tenant's own on API 2, then the other way round.
    const lists = [await openList(one), await openList(two, tenant.secret), await openList(two), await openList(one, tenant.secret)];
    try {
      const onOne = await submit(one, prompt("list-one", 4, 5), X, tenant.secret);
      const onTwo = await submitChat(two, prompt("list-two", 4, 5), Y, tenant.secret);
      const slow = await submit(two, prompt("list-cancel", 60, 100), Y, tenant.secret);
      // Everyone sees the slow task RUNNING before it is cancelled through API 1.
      await eventually(async () => lists.every((list) => list.statusesOf(slow).includes("RUNNING")) || undefined, { what: "every list showing the slow task RUNNING" });
      expect((await call(one, `/v1/ai/tasks/${slow}/cancel`, { method: "POST", key: tenant.secret })).status).toBe(200);

      const ends: Record<string, string> = { [onOne]: "COMPLETED", [onTwo]: "COMPLETED", [slow]: "CANCELLED" };
      await eventually(async () => lists.every((list) => Object.entries(ends).every(([taskId, status]) => list.statusesOf(taskId).includes(status))) || undefined, {
        what: "every list showing every task's end",
      });
      for (const list of lists) {
        for (const [taskId, status] of Object.entries(ends)) {
          const statuses = list.statusesOf(taskId);
          expectForward(statuses);
          // The end is the last row of the task.
          expect(statuses.at(-1)).toBe(status);
        }
        expect(changes(list.statusesOf(slow)).slice(-2)).toEqual(["RUNNING", "CANCELLED"]);
        // The completed rows carry the text the task ended with.
        const row = list.rows.filter((seen) => seen.task_id === onOne).at(-1)!;
        expect(row.response).toBe((await taskOf(onOne)).response);
      }
      // A tenant's lists, on either process, hold its own tasks only; the admin's saw them too.
      for (const list of [lists[1]!, lists[3]!]) expect(new Set(list.rows.map((row) => row.owner_id))).toEqual(new Set([tenant.userId]));
    } finally {
      for (const list of lists) list.close();
    }
  });
});

describe("limits hold across both API processes together", () => {
  it("rate_limit_per_minute: submissions on either, in either dialect, count against one budget", async () => {
    const { secret } = await newKey("rate-across", { rate_limit_per_minute: 4 });
    const statuses = [
      (await call(one, "/v1/ai/text_completion?async=true", { key: secret, json: taskRequest(prompt("rate", 1, 0), X) })).status,
      (await call(two, "/v1/chat/completions", { key: secret, json: { model: Y, messages: [{ role: "user", content: prompt("rate", 1, 0) }] }, headers: { prefer: "respond-async" } })).status,
      (await call(two, "/v1/ai/text_completion?async=true", { key: secret, json: taskRequest(prompt("rate", 1, 0), X) })).status,
      (await call(one, "/v1/chat/completions", { key: secret, json: { model: Y, messages: [{ role: "user", content: prompt("rate", 1, 0) }] }, headers: { prefer: "respond-async" } })).status,
    ];
    expect(statuses).toEqual([202, 202, 202, 202]);
    const refusedOnOne = await call(one, "/v1/ai/text_completion?async=true", { key: secret, json: taskRequest(prompt("rate", 1, 0), X) });
    expect(refusedOnOne.status).toBe(429);
    expect((await json(refusedOnOne)).errors[0].code).toBe("rate_limit_exceeded");
    const refusedOnTwo = await call(two, "/v1/chat/completions", { key: secret, json: { model: Y, messages: [{ role: "user", content: "x" }] }, headers: { prefer: "respond-async" } });
    expect(refusedOnTwo.status).toBe(429);
    expect((await json(refusedOnTwo)).error.code).toBe("rate_limit_exceeded");
  });

  it("tokens_per_day: the tokens of tasks submitted on both are summed, and both refuse once the sum reaches the limit", async () => {
    const tenant = await newKey("tokens-across", { tokens_per_day: 100_000 });
    const first = await submit(one, prompt("tokens-one", 6, 0), X, tenant.secret);
    const used = await waitForTask(first, (task) => task.status === "COMPLETED", "completed");
    const perTask = (used.promptTokens ?? 0) + used.completionTokens;
    expect(perTask).toBeGreaterThan(0);
    // One more task's worth would pass the limit, but one task alone does not: each process counting only
    // its own would accept a second task on each side.
    expect((await call(two, `/v1/admin/keys/${tenant.keyId}`, { method: "PATCH", json: { limits: { tokens_per_day: perTask + 1 } } })).status).toBe(200);
    const second = await submit(two, prompt("tokens-two", 6, 0), X, tenant.secret);
    const secondUsed = await waitForTask(second, (task) => task.status === "COMPLETED", "completed");
    const sum = perTask + (secondUsed.promptTokens ?? 0) + secondUsed.completionTokens;
    await eventually(async () => ((await stack.api.deps.tokenUsage.usedToday({ userId: tenant.userId, keyId: tenant.keyId })).key === sum) || undefined, {
      what: "both tasks' tokens counted for the key",
    });
    const refusedOnOne = await call(one, "/v1/ai/text_completion?async=true", { key: tenant.secret, json: taskRequest("one more", X) });
    expect(refusedOnOne.status).toBe(429);
    expect((await json(refusedOnOne)).errors[0].code).toBe("token_quota_exceeded");
    const refusedOnTwo = await call(two, "/v1/chat/completions", { key: tenant.secret, json: { model: Y, messages: [{ role: "user", content: "one more" }] }, headers: { prefer: "respond-async" } });
    expect(refusedOnTwo.status).toBe(429);
    expect((await json(refusedOnTwo)).error.code).toBe("token_quota_exceeded");
  });

  it("max_concurrent_tasks: open tasks submitted on both count together; a cancel on the other process frees a place", async () => {
    const tenant = await newKey("open-across", { max_concurrent_tasks: 2 });
    const slowOne = await submit(one, prompt("open-one", 60, 100), Y, tenant.secret);
    const slowTwo = await submit(two, prompt("open-two", 60, 100), Y, tenant.secret);
    for (const base of [one, two]) {
      const refused = await call(base, "/v1/ai/text_completion?async=true", { key: tenant.secret, json: taskRequest("a third", X) });
      expect(refused.status).toBe(429);
      expect((await json(refused)).errors[0].code).toBe("concurrency_limit_exceeded");
    }
    expect((await call(two, `/v1/ai/tasks/${slowOne}/cancel`, { method: "POST", key: tenant.secret })).status).toBe(200);
    const third = await submit(one, prompt("open-three", 1, 0), X, tenant.secret);
    expect((await call(one, `/v1/ai/tasks/${slowTwo}/cancel`, { method: "POST", key: tenant.secret })).status).toBe(200);
    await waitForTask(third, (task) => task.status === "COMPLETED", "completed");
  });
});

describe("worker hosts serving different models", () => {
  it("runs model-x only on A and C, model-y only on B and C", async () => {
    const tags = Array.from({ length: 12 }, (_, i) => `hosts-${i}`);
    const taskIds = await Promise.all(tags.map((tag, i) => submit(i % 2 === 0 ? one : two, prompt(tag, 8, 40), i % 2 === 0 ? X : Y)));
    await Promise.all(taskIds.map((taskId) => waitForTask(taskId, (task) => task.status === "COMPLETED", "completed")));
    const ranOn = (model: string) => tags.filter((_, i) => (i % 2 === 0 ? X : Y) === model).flatMap((tag) => upstreamRequests(tag).map(hostOf));
    const xHosts = ranOn(X);
    const yHosts = ranOn(Y);
    expect(xHosts).toHaveLength(6);
    expect(yHosts).toHaveLength(6);
    expect(xHosts.filter((host) => host === "B")).toEqual([]);
    expect(yHosts.filter((host) => host === "A")).toEqual([]);
    // Each model's two hosts shared its tasks (2 slots each: 6 tasks need both).
    expect(new Set(xHosts)).toEqual(new Set(["A", "C"]));
    expect(new Set(yHosts)).toEqual(new Set(["B", "C"]));
    // And the upstream saw each model's own upstream name from every host.
    for (const tag of tags) for (const request of upstreamRequests(tag)) expect(modelOf(request)).toBe(tags.indexOf(tag) % 2 === 0 ? "upstream-x" : "upstream-y");
  });

  it("with host A stopped, model-x's tasks all go to C (never to B)", async () => {
    const a = hosts.get("A")!;
    await a.stop();
    expect(a.child.exitCode).toBe(0);
    hosts.delete("A");
    const tags = Array.from({ length: 4 }, (_, i) => `a-stopped-${i}`);
    const taskIds = await Promise.all(tags.map((tag, i) => submit(i % 2 === 0 ? one : two, prompt(tag, 4, 20), X)));
    await Promise.all(taskIds.map((taskId) => waitForTask(taskId, (task) => task.status === "COMPLETED" && task.attempts === 1, "completed")));
    expect(tags.flatMap((tag) => upstreamRequests(tag).map(hostOf))).toEqual(["C", "C", "C", "C"]);
  });

  it("an upstream silent for longer than a host's confirmation window (half its 2 s lease) costs a checkpoint, never a token", async () => {
    // 1.1 s before each token: every one of them comes after the attempt's hold was last confirmed 1 s ago.
    const taskId = await submit(one, prompt("silent", 1, 1_100), X);
    const events = await readSse(await call(two, `/v1/ai/tasks/${taskId}/events`));
    const done = await taskOf(taskId);
    expect(done).toMatchObject({ status: "COMPLETED", attempts: 1, response: "Echo: silent w0", completionTokens: 3 });
    expect(events.filter((event) => event.event === "token").map((event) => JSON.parse(event.data).delta as string).join("")).toBe(done.response);
    expect(upstreamRequests("silent")).toHaveLength(1);
  });

  it("a host that loses its network (SIGSTOP) is fenced off: its tasks are taken over and complete once; woken, its late writes are refused and it rejoins", async () => {
    // Host A comes back (when the test before stopped it); model-x now runs on A and C, two slots each.
    if (!hosts.has("A")) await spawnHost("A");
    const tenant = await newKey("fenced");
    const words = 40;
    const tags = Array.from({ length: 4 }, (_, i) => `fenced-${i}`);
    const taskIds = await Promise.all(tags.map((tag, i) => submit(i % 2 === 0 ? one : two, prompt(tag, words, 60), X, tenant.secret)));
    await Promise.all(taskIds.map((taskId) => waitForTask(taskId, (task) => task.status === "RUNNING" && task.completionTokens >= 5, "running with some tokens")));
    // Four at once fill both hosts: C holds two of them.
    const onHost = (host: Host) => taskIds.filter((_, i) => hostOf(upstreamRequests(tags[i]!)[0]!) === host);
    const leased = onHost("C");
    expect(leased).toHaveLength(2);
    expect(onHost("A")).toHaveLength(2);
    const sleeper = hosts.get("C")!;

    // Its sockets stay open, it answers nothing: no lease renewal, no heartbeat.
    const stoppedAt = Date.now();
    sleeper.child.kill("SIGSTOP");
    await Promise.all(leased.map((taskId) => waitForTask(taskId, (task) => task.attempts === 2 && task.status === "RUNNING", "attempt 2 running", 30_000)));
    const takeoverMs = Date.now() - stoppedAt;
    // The bound: the lease (2 s, renewed every third of it, so at least two thirds of it after the pause)
    // or the heartbeat (3 s), whichever ends first, then a free slot on A. Not before: the lease held until then.
    expect(takeoverMs).toBeGreaterThanOrEqual((LEASE_MS * 2) / 3);
    expect(takeoverMs).toBeLessThan(LEASE_MS + DEAD_AFTER_MS);
    const done = await Promise.all(taskIds.map((taskId) => waitForTask(taskId, (task) => task.status === "COMPLETED", "completed")));
    const befores = await Promise.all(leased.map(storedEvents));
    for (const [i, task] of done.entries()) {
      expect(task).toMatchObject({ status: "COMPLETED", response: `Echo: ${tags[i]} ${Array.from({ length: words }, (_, w) => `w${w}`).join(" ")}` });
      // C's two on C then A; A's own on A alone.
      expect(upstreamRequests(tags[i]!).map(hostOf)).toEqual(leased.includes(task.id) ? ["C", "A"] : ["A"]);
      expect(task.attempts).toBe(leased.includes(task.id) ? 2 : 1);
    }

    sleeper.child.kill("SIGCONT");
    // It reads the rest of its upstream answers; before writing one more event after so long, each attempt
    // confirms its hold, is refused, and stops (logged after the refusal; nothing is written after it).
    const stopped = (taskId: string) => (line: string) => line.includes(taskId) && line.includes("attempt stopped: task cancelled or taken over");
    await eventually(async () => leased.every((taskId) => sleeper.output().split("\n").some(stopped(taskId))) || undefined, { what: "the woken host to stop both fenced-off attempts" });

    for (const [n, taskId] of leased.entries()) {
      const after = (await stack.api.deps.log.readAfter(taskId, "0", 10_000)).map((entry) => entry.event);
      const firstOfAttempt2 = after.findIndex((event) => "attempt" in event && event.attempt === 2);
      const lateFromAttempt1 = after.slice(firstOfAttempt2).filter((event) => "attempt" in event && event.attempt === 1);
      expect(lateFromAttempt1).toEqual([]);
      expect(after.filter((event) => event.type === "final")).toEqual([{ type: "final", status: "COMPLETED" }]);
      expect(after.at(-1)).toEqual({ type: "final", status: "COMPLETED" });
      expect(after).toHaveLength(befores[n]!.length);
    }
    // The rows are as the attempts that finished left them, and the usage was counted once per task.
    expect(await Promise.all(taskIds.map(taskOf))).toEqual(done);
    const usage = done.reduce((sum, task) => sum + (task.promptTokens ?? 0) + task.completionTokens, 0);
    expect((await stack.api.deps.tokenUsage.usedToday({ userId: tenant.userId, keyId: tenant.keyId })).key).toBe(usage);

    // It rejoins: with the other model-x host gone, the woken one serves model-x's next task.
    await hosts.get("A")!.stop();
    hosts.delete("A");
    const next = await submit(two, prompt("rejoined", 4, 10), X);
    await waitForTask(next, (task) => task.status === "COMPLETED" && task.attempts === 1, "completed by the woken host");
    expect(upstreamRequests("rejoined").map(hostOf)).toEqual(["C"]);
    expect(sleeper.output()).not.toMatch(/"level":(50|60)/);
  });
});
