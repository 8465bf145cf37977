import { BATCH_QUEUE, WEBHOOK_QUEUE, closeRedis, createRedis, isCluster, keySpace, parseClusterNodes, runQueueKeys } from "@llmq/queue";
import { loadApiEnv } from "@llmq/api";
import { FAST_AND_SLOW_MODELS, type TestStack, startTestStack } from "@llmq/stack";
import { loadWorkerEnv } from "@llmq/worker";
import { type SseEvent, type WebhookReceiver, eventually, json, readSse, startWebhookReceiver, testRedisClusterNodes } from "@llmq/testkit";
import OpenAI, { toFile } from "openai";

// The whole service on the Redis Cluster scripts/test.sh starts (three masters, three replicas): the API and
// the worker get REDIS_CLUSTER_NODES (REDIS_URL is then unused), so every key, script, pipeline, blocking
// call and subscription goes through ioredis' Cluster client. A cross-slot command would fail the request.
const FAST = "gemma-7b";
const SLOW = "llama-3.1-8b-instruct";
/** More models, so the run queues (one hash tag each) land on more than one master. */
const MODELS = {
  providers: FAST_AND_SLOW_MODELS.providers,
  models: [...FAST_AND_SLOW_MODELS.models, ...["alpha", "bravo", "charlie", "delta"].map((id) => ({ id: `m-${id}`, provider: "fast", concurrency: 2 }))],
};

let stack: TestStack;
let receiver: WebhookReceiver;
beforeAll(async () => {
  receiver = await startWebhookReceiver();
  stack = await startTestStack({
    models: MODELS,
    env: {
      REDIS_CLUSTER_NODES: testRedisClusterNodes(),
      // Nothing reachable there: REDIS_URL is not used when the cluster is named.
      REDIS_URL: "redis://127.0.0.1:1",
      WEBHOOK_ALLOWED_CIDRS: "127.0.0.1/32",
      WEBHOOK_RETRY_DELAYS_MS: "200,400",
    },
  });
});
afterAll(async () => {
  await stack?.close();
  await receiver?.close();
});

const task = (content: string, model = FAST, maxTokens = 8) => ({ messages: [{ role: "user", content }], configs: { model, max_tokens: maxTokens } });
const data = (event: SseEvent) => JSON.parse(event.data);

async function taskView(taskId: string) {
  const res = await stack.request(`/v1/ai/tasks/${taskId}`);
  expect(res.status).toBe(200);
  return (await json(res)).data.data;
}

describe("REDIS_CLUSTER_NODES", () => {
  const base = { DATABASE_URL: "postgresql://localhost/db", ADMIN_API_KEY: "admin_0123456789abcdef", AUTH_JWT_SECRET: "x".repeat(32) };
  it("is read by the API and the worker, stands in for REDIS_URL, and names a bad entry", () => {
    for (const load of [loadApiEnv, loadWorkerEnv]) {
      expect(load({ ...base, REDIS_CLUSTER_NODES: "10.0.0.1:7000,10.0.0.2:7000" }).REDIS_CLUSTER_NODES).toEqual({ cluster: [{ host: "10.0.0.1", port: 7000 }, { host: "10.0.0.2", port: 7000 }] });
      expect(load({ ...base, REDIS_URL: "redis://localhost:6379" }).REDIS_CLUSTER_NODES).toBeUndefined();
      expect(() => load(base)).toThrow(/REDIS_URL.*REDIS_CLUSTER_NODES/);
      expect(() => load({ ...base, REDIS_CLUSTER_NODES: "10.0.0.1" })).toThrow("REDIS_CLUSTER_NODES: '10.0.0.1' is not host:port");
    }
  });
});

describe("on a Redis Cluster", () => {
  it("runs the task dialect: a waited answer, a task polled to COMPLETED", async () => {
    const waited = await stack.request("/v1/ai/text_completion", { method: "POST", json: task("Hello, have a good day!") });
    expect(waited.status).toBe(200);
    const body = await json(waited);
    expect(body.data.data).toMatchObject({ status: "COMPLETED", percent: 100 });
    expect(body.data.data.response.length).toBeGreaterThan(0);

    const taskId = await stack.submitAsync(task("What is a hash slot?"));
    const done = await eventually(async () => {
      const view = await taskView(taskId);
      return view.status === "COMPLETED" ? view : undefined;
    }, { what: "the polled task COMPLETED" });
    expect(done.percent).toBe(100);
  });

  it("runs the OpenAI dialect: a chat completion, then the same streamed", async () => {
    const request = { model: FAST, messages: [{ role: "user", content: "Describe a city." }], max_tokens: 12 };
    const plain = await stack.request("/v1/chat/completions", { method: "POST", json: request });
    expect(plain.status).toBe(200);
    const completion = await json(plain);
    expect(completion.object).toBe("chat.completion");
    expect(completion.choices[0].message.content.length).toBeGreaterThan(0);

    const streamed = await stack.request("/v1/chat/completions", { method: "POST", json: { ...request, stream: true } });
    expect(streamed.status).toBe(200);
    const events = await readSse(streamed);
    expect(events[events.length - 1]!.data).toBe("[DONE]");
    const text = events
      .slice(0, -1)
      .map((event) => JSON.parse(event.data).choices[0]?.delta?.content ?? "")
      .join("");
    expect(text).toBe(completion.choices[0].message.content);
  });

  it("resumes a task's event stream with Last-Event-ID: nothing missed, nothing twice", async () => {
    const taskId = await stack.submitAsync(task("write 500 words about clusters", SLOW, 40));
    const first = await stack.request(`/v1/ai/tasks/${taskId}/events`);
    expect(first.status).toBe(200);
    let tokens = 0;
    const head = await readSse(first, { until: (event) => event.event === "token" && ++tokens === 5 });
    const lastId = head[head.length - 1]!.id!;
    const rest = await readSse(await stack.request(`/v1/ai/tasks/${taskId}/events`, { headers: { "last-event-id": lastId } }));
    const all = [...head, ...rest];
    const ids = all.map((event) => event.id).filter(Boolean);
    expect(new Set(ids).size).toBe(ids.length);
    const tokenCounts = all.filter((event) => event.event === "token").map((event) => data(event).tokens as number);
    expect(tokenCounts).toEqual(tokenCounts.map((_, index) => index + 1));
    const result = all[all.length - 1]!;
    expect(result.event).toBe("result");
    const streamed = all.filter((event) => event.event === "token").map((event) => data(event).delta as string).join("");
    expect(data(result).data.data.response).toBe(streamed);
  });

  it("cancels a running task: CANCELLED once, its worker stopped", async () => {
    const taskId = await stack.submitAsync(task("write 500 words about failover", SLOW, 400));
    await eventually(async () => ((await taskView(taskId)).status === "RUNNING" ? true : undefined), { what: "RUNNING" });
    const cancelled = await stack.request(`/v1/ai/tasks/${taskId}/cancel`, { method: "POST" });
    expect(cancelled.status).toBe(200);
    const row = await stack.finalTask(taskId);
    expect(row.status).toBe("CANCELLED");
    const events = await readSse(await stack.request(`/v1/ai/tasks/${taskId}/events`));
    expect(events.filter((event) => event.event === "status" && ["COMPLETED", "CANCELLED", "FAILED"].includes(data(event).status)).map((event) => data(event).status)).toEqual(["CANCELLED"]);
  });

  it("runs a native batch to the end (its items created in the request, on the run queue's slot)", async () => {
    const requests = Array.from({ length: 6 }, (_, i) => ({ custom_id: `c-${i}`, ...task(`batch item ${i}`) }));
    const res = await stack.request("/v1/ai/batches", { method: "POST", json: { requests } });
    expect(res.status).toBe(200);
    const batchId: string = (await json(res)).data.data.batch_id;
    const ended = await eventually(async () => {
      const batch = (await json(await stack.request(`/v1/ai/batches/${batchId}`))).data.data;
      return batch.status === "completed" ? batch : undefined;
    }, { timeoutMs: 30_000, what: "the batch completed" });
    expect(ended.counts.COMPLETED).toBe(requests.length);
    const lines = (await (await stack.request(`/v1/ai/batches/${batchId}/results`)).text()).trimEnd().split("\n").map((line) => JSON.parse(line));
    expect(lines.map((line) => line.custom_id)).toEqual(requests.map((r) => r.custom_id));
  });

  it("runs an OpenAI batch from a file to the end (its ingest a BullMQ job on the batch queue's hash-tagged prefix)", async () => {
    const client = new OpenAI({ baseURL: `${stack.url}/v1`, apiKey: stack.adminKey, maxRetries: 0 });
    const customIds = ["f-0", "f-1", "f-2"];
    const lines = customIds.map((customId) => JSON.stringify({ custom_id: customId, method: "POST", url: "/v1/chat/completions", body: { model: FAST, messages: [{ role: "user", content: customId }], max_tokens: 8 } }));
    const file = await client.files.create({ file: await toFile(Buffer.from(`${lines.join("\n")}\n`), "input.jsonl"), purpose: "batch" });
    const created = await client.batches.create({ input_file_id: file.id, endpoint: "/v1/chat/completions", completion_window: "24h" });
    const ended = await eventually(async () => {
      const batch = await client.batches.retrieve(created.id);
      return ["completed", "failed", "expired", "cancelled"].includes(batch.status) ? batch : undefined;
    }, { timeoutMs: 30_000, what: "the OpenAI batch ended" });
    expect(ended.status).toBe("completed");
    expect(ended.request_counts).toMatchObject({ total: 3, completed: 3, failed: 0 });
    const output = (await (await client.files.content(ended.output_file_id!)).text()).trim().split("\n").map((line) => JSON.parse(line));
    expect(output.map((line) => line.custom_id)).toEqual(customIds);
    expect(output.every((line) => line.response?.status_code === 200)).toBe(true);
  });

  it("delivers a task's webhook (a BullMQ job on the webhook queue's prefix)", async () => {
    const created = await json(await stack.request("/v1/admin/keys", { method: "POST", json: { name: "cluster hooks" } }));
    const { id, key } = created.data.data;
    expect((await stack.request(`/v1/admin/keys/${id}`, { method: "PATCH", json: { webhooks: { allow_private_targets: true } } })).status).toBe(200);
    const taskId = await stack.submitAsync({ ...task("ping me"), webhook: { url: `${receiver.url}/cluster`, events: ["completed"] } }, key);
    const [hook] = await eventually(async () => (receiver.at("/cluster").length > 0 ? receiver.at("/cluster") : undefined), { what: "the webhook" });
    expect(JSON.parse(hook!.body)).toMatchObject({ type: "task.completed", data: { task_id: taskId, status: "COMPLETED" } });
  });

  it("throttles failed sign-ins (one script over both of an email's logs, in one slot): wrong passwords to the limit, then 429; a success gives its place back", async () => {
    const email = `cluster.${Date.now()}@example.test`;
    const password = "cluster horse battery";
    expect((await stack.request("/v1/admin/users", { method: "POST", json: { email, name: "cluster", password } })).status).toBe(201);
    const signIn = (guess: string) => fetch(`${stack.url}/v1/auth/login`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ email, password: guess }) });
    expect((await signIn(password)).status).toBe(200);
    for (let i = 0; i < 10; i++) expect((await signIn(`wrong ${i}`)).status).toBe(401);
    const refused = await signIn(password);
    expect(refused.status).toBe(429);
    expect((await json(refused)).errors[0].code).toBe("too_many_sign_in_attempts");
  });

  it("keeps each queue's keys in one slot, and spreads the queues over more than one master", async () => {
    const cluster = createRedis(parseClusterNodes(testRedisClusterNodes()), { name: "cluster-check" });
    try {
      if (!isCluster(cluster)) throw new Error("expected a Cluster client");
      await eventually(async () => (cluster.status === "ready" ? true : undefined), { what: "cluster client ready" });
      const prefix = stack.env.REDIS_PREFIX!;
      const keys = keySpace(prefix);
      // Every key the suite's deployment wrote, from every master.
      const all: string[] = [];
      for (const node of cluster.nodes("master")) all.push(...(await node.keys(`${prefix}:*`)));
      expect(all.length).toBeGreaterThan(10);
      const slotOf = async (key: string) => Number(await cluster.call("CLUSTER", "KEYSLOT", key));
      const families = new Map<string, string[]>();
      for (const queue of [BATCH_QUEUE, WEBHOOK_QUEUE]) families.set(`bull ${queue}`, all.filter((key) => key.startsWith(`${keys.bull(queue)}:`)));
      const queueOf = (model: string) => stack.api.deps.models.byId.get(model)!.queueName;
      for (const model of [FAST, SLOW]) {
        const queueName = queueOf(model);
        families.set(`run queue ${queueName}`, all.filter((key) => key.startsWith(runQueueKeys(prefix, queueName).base)));
      }
      const masters = new Set<string>();
      for (const [family, members] of families) {
        expect([family, members.length > 1]).toEqual([family, true]);
        const slots = new Set(await Promise.all(members.map(slotOf)));
        expect([family, slots.size]).toEqual([family, 1]);
        const [slot] = slots;
        const node = cluster.slots[slot!]![0]!;
        masters.add(node);
      }
      // The run queues of every model, written or not, by their hash tags' slots.
      for (const model of MODELS.models) masters.add(cluster.slots[await slotOf(runQueueKeys(prefix, queueOf(model.id)).state)]![0]!);
      expect(masters.size).toBeGreaterThan(1);
    } finally {
      await closeRedis(cluster);
    }
  });
});
