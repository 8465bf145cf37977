// Issue 16, capacity: an upstream's tokens_per_minute and max_concurrency hold as the upstream itself
// counts them, through the whole stack (API -> run queue -> workers -> provider -> a real HTTP fixture
// that records when each request arrived and the tokens its usage bills). The TPM test runs about 62 s:
// a sliding minute is only proved by a run that crosses one (the run queue takes a test clock only at
// script level, where packages/queue/test/upstreams-capacity.test.ts proves it in detail).
import { type OpenAIFixture, startOpenAIFixture } from "@llmq/testkit";
import { type TestStack, startTestStack } from "@llmq/stack";

const MINUTE = 60_000;
const TPM = 3_000;
const MAX_TOKENS = 300;

let tpm: OpenAIFixture;
let conc: OpenAIFixture;
let stack: TestStack;

beforeAll(async () => {
  // Every answer is cut at max_tokens: each task bills its prompt (6 tokens) + 300.
  tpm = await startOpenAIFixture({ behaviour: { reply: "word ".repeat(400).trim() } });
  // Answers that take a while (20 tokens, 25 ms apart), so requests overlap.
  conc = await startOpenAIFixture({ behaviour: { reply: "slow ".repeat(20).trim(), tokenDelayMs: 25 } });
  stack = await startTestStack({
    models: {
      providers: {
        tpm: { type: "openai", base_url: tpm.url, api_key: "fixture-key-0123" },
        conc: { type: "openai", base_url: conc.url, api_key: "fixture-key-0123" },
      },
      models: [
        { id: "tpm-model", concurrency: 12, upstreams: [{ provider: "tpm", tokens_per_minute: TPM }] },
        { id: "conc-model", concurrency: 8, upstreams: [{ provider: "conc", max_concurrency: 2 }] },
      ],
    },
  });
});
afterAll(async () => {
  await stack?.close();
  await Promise.all([tpm?.close(), conc?.close()]);
});

function submit(model: string, content: string, maxTokens: number): Promise<string> {
  return stack.submitAsync({ messages: [{ role: "user", content }], configs: { model, max_tokens: maxTokens, temperature: 0 } });
}

const final = (taskId: string, timeoutMs: number) => stack.finalTask(taskId, { timeoutMs, intervalMs: 250 });

const completions = (fixture: OpenAIFixture) => fixture.requests.filter((r) => r.path === "/v1/chat/completions");

describe("upstream capacity through the whole stack", () => {
  it("tokens_per_minute: no 60 s window, as the upstream counts it, holds more than the budget; every task completes", async () => {
    // 12 tasks of ~306 tokens against 3,000 a minute: 9 fit in the first window, the rest wait for it to slide.
    const ids = await Promise.all(Array.from({ length: 12 }, (_, i) => submit("tpm-model", `capacity #${i}`, MAX_TOKENS)));
    for (const id of ids) expect(await final(id, 100_000)).toMatchObject({ status: "COMPLETED", attempts: 1 });

    const served = completions(tpm).sort((a, b) => a.at - b.at);
    expect(served.map((r) => r.status)).toEqual(Array(12).fill(200));
    // Every window (t, t + 60 s] that starts at a request: the tokens billed by requests started in it.
    const windows = served.map((start) => served.filter((r) => r.at >= start.at && r.at < start.at + MINUTE).reduce((sum, r) => sum + r.totalTokens!, 0));
    const busiest = Math.max(...windows);
    // (The figures are in the failure message: each request's arrival after the first, its tokens, and the busiest window.)
    const figures = `busiest ${busiest} of ${TPM}; arrivals (ms after the first: tokens) ${served.map((r) => `${r.at - served[0]!.at}:${r.totalTokens}`).join(" ")}`;
    expect({ withinBudget: busiest <= TPM, figures }).toEqual({ withinBudget: true, figures });
    // The run crossed a window boundary: the budget was used, then used again a minute later.
    expect(busiest).toBeGreaterThan(TPM - 2 * (MAX_TOKENS + 10));
    expect(served.at(-1)!.at - served[0]!.at).toBeGreaterThanOrEqual(MINUTE);
  }, 120_000);

  it("max_concurrency: the upstream never sees more than 2 requests at once, with three workers pulling", async () => {
    await stack.startWorker();
    await stack.startWorker();
    conc.resetMaxInFlight();
    const ids = await Promise.all(Array.from({ length: 12 }, (_, i) => submit("conc-model", `concurrency #${i}`, 50)));
    for (const id of ids) expect(await final(id, 60_000)).toMatchObject({ status: "COMPLETED", attempts: 1 });
    expect(completions(conc)).toHaveLength(12);
    expect(conc.maxInFlight()).toBe(2);
  }, 90_000);
});
