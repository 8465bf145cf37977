import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { createApp, loadApiEnv } from "@llmq/api";
import { json } from "@llmq/testkit";
import { type TestStack, startTestStack } from "@llmq/stack";
import { type RunningWorker, loadWorkerEnv } from "@llmq/worker";

// REDIS_STATS=1 (what npm run bench sets): the API's /metrics and the worker's metrics port count the
// Redis commands and socket writes (round trips started) of every connection of the process.
let stack: TestStack;
let worker: RunningWorker;

/** llmq_redis_sent_total of one kind in a Prometheus text, by connection name (empty when the series is not served). */
function sentBy(text: string, kind: "commands" | "writes"): Map<string, number> {
  const out = new Map<string, number>();
  for (const [, connection, value] of text.matchAll(new RegExp(`^llmq_redis_sent_total\\{kind="${kind}",connection="([^"]*)"\\} (\\d+)$`, "gm"))) out.set(connection!, Number(value));
  return out;
}

/** The process's whole traffic of one kind (every connection's series added), or undefined when none is served. */
function sent(text: string, kind: "commands" | "writes"): number | undefined {
  const series = [...sentBy(text, kind).values()];
  return series.length === 0 ? undefined : series.reduce((sum, n) => sum + n, 0);
}

const scrapeApi = async (base = stack.url) => (await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${stack.adminKey}` } })).text();
const scrapeWorker = async () => (await fetch(worker.metricsUrl!)).text();

beforeAll(async () => {
  stack = await startTestStack({ worker: false, env: { REDIS_STATS: "1" } });
  worker = await stack.startWorker({ WORKER_METRICS_PORT: "0" });
});
afterAll(async () => {
  await stack.close();
});

describe("REDIS_STATS=1", () => {
  it("counts the Redis traffic of a completed task in the API and in the worker, commands at least as many as writes", async () => {
    const apiBefore = await scrapeApi();
    const workerBefore = await scrapeWorker();
    const body = await json(
      await stack.request("/v1/ai/text_completion", {
        method: "POST",
        json: { messages: [{ role: "user", content: "count me" }], configs: { model: "gemma-7b", max_tokens: 16, top_k: 10, top_p: 0.9, temperature: 0 } },
      }),
    );
    expect(body.data.data.status).toBe("COMPLETED");
    const apiAfter = await scrapeApi();
    const workerAfter = await scrapeWorker();
    for (const [before, after] of [
      [apiBefore, apiAfter],
      [workerBefore, workerAfter],
    ] as const) {
      const writes = sent(after, "writes")! - sent(before, "writes")!;
      const commands = sent(after, "commands")! - sent(before, "commands")!;
      expect(writes).toBeGreaterThanOrEqual(2);
      expect(commands).toBeGreaterThanOrEqual(writes);
    }
    // By connection: the API's submit went out on its queue connection, the worker's events on its command one.
    const grew = (before: string, after: string, connection: string) => (sentBy(after, "writes").get(connection) ?? 0) - (sentBy(before, "writes").get(connection) ?? 0);
    expect(grew(apiBefore, apiAfter, "api-queue")).toBeGreaterThanOrEqual(1);
    expect(grew(workerBefore, workerAfter, "worker-commands")).toBeGreaterThanOrEqual(1);
    expect([...sentBy(workerAfter, "writes").keys()]).not.toContain("api-queue");
  });

  it("is off by default and refuses a value that is not a switch", () => {
    const base = { DATABASE_URL: "postgresql://localhost/db", REDIS_URL: "redis://localhost:6379", ADMIN_API_KEY: "admin_0123456789abcdef", AUTH_JWT_SECRET: "x".repeat(32) };
    expect(loadApiEnv(base).REDIS_STATS).toBe(false);
    expect(loadApiEnv({ ...base, REDIS_STATS: "1" }).REDIS_STATS).toBe(true);
    expect(loadApiEnv({ ...base, REDIS_STATS: "true" }).REDIS_STATS).toBe(true);
    expect(loadApiEnv({ ...base, REDIS_STATS: "0" }).REDIS_STATS).toBe(false);
    expect(loadWorkerEnv(base).REDIS_STATS).toBe(false);
    expect(loadWorkerEnv({ ...base, REDIS_STATS: "1" }).REDIS_STATS).toBe(true);
    expect(() => loadApiEnv({ ...base, REDIS_STATS: "yes" })).toThrow(/REDIS_STATS/);
    expect(() => loadWorkerEnv({ ...base, REDIS_STATS: "on" })).toThrow(/REDIS_STATS/);
  });

  it("serves no Redis series without it", async () => {
    const server: Server = createApp({ ...stack.api.deps, redisStats: null }).listen(0, "127.0.0.1");
    await new Promise<void>((resolve) => server.once("listening", () => resolve()));
    try {
      const text = await scrapeApi(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
      expect(text).toContain("# TYPE llmq_tasks_open gauge");
      expect(text).not.toContain("llmq_redis_sent_total");
    } finally {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    }
    expect(sent(await scrapeApi(), "writes")).toBeGreaterThan(0);
  });
});
