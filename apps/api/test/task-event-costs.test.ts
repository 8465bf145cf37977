// What a streamed token costs Redis: counted with INFO commandstats on a Redis of this suite's own, so
// nothing else runs on it. A subscriber is woken with the data (it reads the stream when it subscribes,
// not per token), and a synchronous request waits for the final event only.
import { type PrivateRedis, type SseEvent, eventually, json, readSse, startPrivateRedis } from "@llmq/testkit";
import { type TestStack, startTestStack } from "@llmq/stack";
import { type RedisConnection, closeRedis, createRedis } from "@llmq/queue";

const TOKENS = 40;
// 40 tokens a second after a 1.5 s pause: subscribers are all listening before the first token.
const MODELS = {
  providers: { slow: { type: "simulated", first_token_ms: 1_500, tokens_per_second: 40 } },
  models: [{ id: "slow-model", provider: "slow", concurrency: 4 }],
};

let redis: PrivateRedis;
let stack: TestStack;
let stats: RedisConnection;
beforeAll(async () => {
  redis = await startPrivateRedis();
  stack = await startTestStack({ redisUrl: redis.url, models: MODELS });
  stats = createRedis(redis.url, { blocking: true });
});
afterAll(async () => {
  if (stats) await closeRedis(stats);
  await stack?.close();
  await redis?.destroy();
});

/** Calls per command since the server started (INFO commandstats). */
async function commandCalls(): Promise<Map<string, number>> {
  const calls = new Map<string, number>();
  for (const line of (await stats.info("commandstats")).split("\n")) {
    const match = /^cmdstat_([^:]+):calls=(\d+)/.exec(line.trim());
    if (match) calls.set(match[1]!, Number(match[2]));
  }
  return calls;
}

function delta(before: Map<string, number>, after: Map<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, calls] of after) {
    const d = calls - (before.get(name) ?? 0);
    if (d > 0 && name !== "info") out[name] = d;
  }
  return out;
}

const EVENT_COMMANDS = ["xadd", "expire", "ttl", "publish", "xrange", "xrevrange", "eval", "evalsha", "subscribe", "unsubscribe"];

function report(label: string, counts: Record<string, number>): void {
  if (!process.env.PRINT_EVENT_COSTS) return;
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  const events = EVENT_COMMANDS.reduce((sum, name) => sum + (counts[name] ?? 0), 0);
  const shown = Object.fromEntries(EVENT_COMMANDS.filter((name) => counts[name]).map((name) => [name, counts[name]]));
  process.stdout.write(
    `${label}: all commands ${total} (${(total / TOKENS).toFixed(2)} per token), event commands ${events} (${(events / TOKENS).toFixed(2)} per token) ${JSON.stringify(shown)}\n`,
  );
}

const request = (content: string) => ({ messages: [{ role: "user", content }], configs: { model: "slow-model", max_tokens: TOKENS, temperature: 0 } });

describe("Redis work per streamed token", () => {
  for (const subscribers of [1, 5]) {
    it(`reads the stream only when each of ${subscribers} subscriber(s) subscribes, not per token`, async () => {
      const before = await commandCalls();
      const taskId = await stack.submitAsync(request(`fan out to ${subscribers}`));
      const streams = await Promise.all(Array.from({ length: subscribers }, () => stack.request(`/v1/ai/tasks/${taskId}/events`)));
      await eventually(async () => (stack.api.deps.hub.listenerCount() === subscribers ? true : undefined), { what: "every subscriber listening" });
      const received: SseEvent[][] = await Promise.all(streams.map((res) => readSse(res)));
      const counts = delta(before, await commandCalls());
      report(`40-token task, ${subscribers} subscriber(s)`, counts);

      // Every subscriber saw the whole task, in order, once.
      const replay = await readSse(await stack.request(`/v1/ai/tasks/${taskId}/events`));
      for (const events of received) {
        expect(events.filter((event) => event.event === "token")).toHaveLength(TOKENS);
        expect(events.map((event) => event.id)).toEqual(replay.map((event) => event.id));
      }
      // One read per subscriber when it subscribes (at most one more if a wake-up was lost), none per token.
      expect(counts.xrange ?? 0).toBeLessThanOrEqual(2 * subscribers);
    });
  }

  it("lets a synchronous request wait for the final event without reading a token", async () => {
    const before = await commandCalls();
    const res = await stack.request("/v1/ai/text_completion", { method: "POST", json: request("wait for me") });
    const body = await json(res);
    const counts = delta(before, await commandCalls());
    report("40-token task, one synchronous request", counts);
    expect(body.data.data).toMatchObject({ status: "COMPLETED", percent: 100 });
    expect(counts.xrange ?? 0).toBe(0);
  });
});
