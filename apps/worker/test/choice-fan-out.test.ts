// One task, several choices (OpenAI's `n`, legacy prompt arrays): each choice is one upstream request.
// They are capped per task, counted against the model's concurrency, and each bills its prompt.
import { type OpenAIFixture, eventually, json, startOpenAIFixture } from "@llmq/testkit";
import { type TestStack, startTestStack } from "@llmq/stack";

const UPSTREAM = "upstream-model";
const SIMULATED = "gemma-7b";

let fixture: OpenAIFixture;
let stack: TestStack;
beforeAll(async () => {
  fixture = await startOpenAIFixture();
  stack = await startTestStack({
    models: {
      providers: {
        upstream: { type: "openai", base_url: fixture.url, api_key: "k", timeout_ms: 10_000 },
        fast: { type: "simulated", first_token_ms: 5, tokens_per_second: 2000 },
      },
      models: [
        { id: UPSTREAM, provider: "upstream", upstream_model: "fixture-model", concurrency: 4 },
        { id: SIMULATED, provider: "fast", concurrency: 8 },
      ],
    },
  });
});
afterAll(async () => {
  await stack?.close();
  await fixture?.close();
});

function openai(path: string, body: unknown, headers: Record<string, string> = {}) {
  return stack.request(path, { method: "POST", json: body, headers });
}

const final = (taskId: string) => stack.finalTask(taskId);

describe("choices per task", () => {
  it("refuses n x prompts over 128 (32 prompts x n 16 = 512) with a 400 naming n and prompt, and writes nothing", async () => {
    const before = (await json(await stack.request("/v1/ai/tasks?limit=200"))).data.data.tasks.length;
    const res = await openai("/v1/completions", { model: SIMULATED, prompt: Array.from({ length: 32 }, (_, i) => `prompt ${i}`), n: 16, max_tokens: 2 });
    expect(res.status).toBe(400);
    const { error } = await json(res);
    expect(error).toMatchObject({ type: "invalid_request_error", param: "n" });
    expect(error.message).toMatch(/n × prompts.*512.*128|128.*512/);
    expect(error.message).toContain("prompt");
    expect((await json(await stack.request("/v1/ai/tasks?limit=200"))).data.data.tasks.length).toBe(before);
  });

  it("accepts exactly 128 (8 prompts x n 16), and the task has 128 choices", async () => {
    const res = await openai("/v1/completions", { model: SIMULATED, prompt: Array.from({ length: 8 }, (_, i) => `prompt ${i}`), n: 16, max_tokens: 2 }, { prefer: "respond-async" });
    expect(res.status).toBe(202);
    const task = await final(res.headers.get("x-task-id")!);
    expect(task.status).toBe("COMPLETED");
    expect((task.choices as unknown[]).length).toBe(128);
  });

  it("never sends the upstream more requests at once than the model's concurrency (4), however many choices a task has (8)", async () => {
    fixture.resetMaxInFlight();
    const res = await openai("/v1/chat/completions", { model: UPSTREAM, messages: [{ role: "user", content: "eight [[fixture:firstTokenDelayMs=200]]" }], n: 8 });
    expect(res.status).toBe(200);
    const body = await json(res);
    expect(body.choices.map((choice: { index: number }) => choice.index)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(fixture.maxInFlight()).toBe(4);
  });

  it("a task of many choices does not hold the model's slots until it is done: a later single choice gets the next free one", async () => {
    const many = openai("/v1/chat/completions", { model: UPSTREAM, messages: [{ role: "user", content: "many [[fixture:firstTokenDelayMs=400]]" }], n: 8 });
    await eventually(async () => (fixture.inFlight() === 4 ? true : undefined), { what: "the first four choices running" });
    const one = openai("/v1/chat/completions", { model: UPSTREAM, messages: [{ role: "user", content: "one [[fixture:firstTokenDelayMs=400]]" }] });
    const [manyRes, oneRes] = await Promise.all([many, one]);
    const [manyTask, oneTask] = await Promise.all([final(manyRes.headers.get("x-task-id")!), final(oneRes.headers.get("x-task-id")!)]);
    expect([manyTask.status, oneTask.status]).toEqual(["COMPLETED", "COMPLETED"]);
    // Round robin between tasks: the single choice runs in the second wave, before the many-choice task's third.
    expect(oneTask.completedAt!.getTime()).toBeLessThan(manyTask.completedAt!.getTime());
  });

  it("bills the prompt of every call: prompt_tokens with n 3 are three times those with n 1", async () => {
    const messages = [{ role: "user", content: "count my prompt tokens please" }];
    const once = await json(await openai("/v1/chat/completions", { model: UPSTREAM, messages, n: 1 }));
    const thrice = await json(await openai("/v1/chat/completions", { model: UPSTREAM, messages, n: 3 }));
    expect(once.usage.prompt_tokens).toBeGreaterThan(0);
    expect(thrice.usage.prompt_tokens).toBe(3 * once.usage.prompt_tokens);
    expect(thrice.usage.total_tokens).toBe(thrice.usage.prompt_tokens + thrice.usage.completion_tokens);
    // Legacy prompt arrays the same way: 2 prompts x n 2 is four calls, each billed.
    const legacy = await json(await openai("/v1/completions", { model: SIMULATED, prompt: ["same words", "same words"], n: 2, max_tokens: 2 }));
    const single = await json(await openai("/v1/completions", { model: SIMULATED, prompt: "same words", max_tokens: 2 }));
    expect(legacy.usage.prompt_tokens).toBe(4 * single.usage.prompt_tokens);
  });
});
