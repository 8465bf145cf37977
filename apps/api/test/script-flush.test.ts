import { type RedisConnection, closeRedis, createRedis, isCluster, parseClusterNodes } from "@llmq/queue";
import { type TestStack, startTestStack } from "@llmq/stack";
import { eventually, json, readSse, testRedisClusterNodes, testRedisUrl } from "@llmq/testkit";

// Redis forgets its cached Lua scripts when it restarts, when a replica is promoted, or on SCRIPT FLUSH.
// Our scripts (the run queue's, the event log's append, the stream leases') then answer NOSCRIPT to an
// EVALSHA and must be sent again as EVAL: the whole service keeps working, on one Redis and on a Cluster.

/** Forgets every cached script: on one Redis, or on each master of a Cluster. */
async function flushScripts(redis: RedisConnection): Promise<void> {
  if (isCluster(redis)) await Promise.all(redis.nodes("master").map((node) => node.script("FLUSH")));
  else await redis.script("FLUSH");
}

const targets: [string, () => Record<string, string>, () => RedisConnection][] = [
  ["one Redis", () => ({}), () => createRedis(testRedisUrl(), { name: "script-flush-test" })],
  [
    "a Redis Cluster",
    () => ({ REDIS_CLUSTER_NODES: testRedisClusterNodes(), REDIS_URL: "redis://127.0.0.1:1" }),
    () => createRedis(parseClusterNodes(testRedisClusterNodes()), { name: "script-flush-test" }),
  ],
];

describe.each(targets)("after SCRIPT FLUSH on %s", (_name, env, connect) => {
  let stack: TestStack;
  let admin: RedisConnection;
  beforeAll(async () => {
    stack = await startTestStack({ env: env() });
    admin = connect();
    await eventually(async () => ((await admin.ping().catch(() => null)) === "PONG" ? true : undefined), { what: "Redis ready" });
  });
  afterAll(async () => {
    await closeRedis(admin);
    await stack?.close();
  });

  const task = (content: string) => ({ messages: [{ role: "user", content }], configs: { model: "gemma-7b", max_tokens: 8 } });

  it("a waited answer, a polled task and streams of both dialects still complete", async () => {
    // Warm: every script cached, as in a service that has been running.
    expect((await stack.request("/v1/ai/text_completion", { method: "POST", json: task("warm up") })).status).toBe(200);

    await flushScripts(admin);
    const waited = await stack.request("/v1/ai/text_completion", { method: "POST", json: task("Hello after a flush") });
    expect(waited.status).toBe(200);
    expect((await json(waited)).data.data).toMatchObject({ status: "COMPLETED", percent: 100 });

    await flushScripts(admin);
    const taskId = await stack.submitAsync(task("Polled after a flush"));
    expect((await stack.finalTask(taskId)).status).toBe("COMPLETED");

    // A stream takes a lease (a script) before it is answered.
    await flushScripts(admin);
    const streamed = await stack.request("/v1/chat/completions", { method: "POST", json: { model: "gemma-7b", messages: [{ role: "user", content: "Stream after a flush" }], max_tokens: 8, stream: true } });
    expect(streamed.status).toBe(200);
    const events = await readSse(streamed);
    expect(events[events.length - 1]!.data).toBe("[DONE]");

    await flushScripts(admin);
    const taskStream = await stack.request("/v1/ai/text_completion?stream=true", { method: "POST", json: task("A task stream after a flush") });
    expect(taskStream.status).toBe(200);
    const taskEvents = await readSse(taskStream);
    expect(taskEvents.some((event) => event.data.includes("COMPLETED"))).toBe(true);
  });

  it("the API's command connection defines no script of ours: a pipeline of it carries what an empty connection's does", async () => {
    const empty = connect();
    try {
      expect(Object.keys(stack.api.deps.redis.pipeline()).sort()).toEqual(Object.keys(empty.pipeline()).sort());
    } finally {
      await closeRedis(empty);
    }
  });
});
