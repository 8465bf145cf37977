// The error classes of the official `openai` package, each answered by our OpenAI dialect.
import { type TestStack, startTestStack } from "@llmq/stack";
import OpenAI from "openai";
import type { ChatCompletionCreateParamsNonStreaming } from "openai/resources/chat/completions";
import { TaskIds, historyIds, sdkClient, sdkError } from "./openai-sdk-support";

const MODEL = "llama-3.1-8b-instruct";
const REQUEST: ChatCompletionCreateParamsNonStreaming = { model: MODEL, messages: [{ role: "user", content: "Say hello world" }], max_tokens: 8 };

describe("openai SDK errors", () => {
  let stack: TestStack;
  let client: OpenAI;
  beforeAll(async () => {
    stack = await startTestStack();
    client = sdkClient(stack);
  });
  afterAll(async () => {
    await stack.close();
  });

  it("answers a wrong key with AuthenticationError (401, invalid_api_key)", async () => {
    const error = await sdkError(() => sdkClient(stack, "sk-not-a-key-of-ours").chat.completions.create(REQUEST));
    expect(error).toBeInstanceOf(OpenAI.AuthenticationError);
    expect(error.status).toBe(401);
    expect(error.code).toBe("invalid_api_key");
    expect(error.type).toBe("authentication_error");
  });

  it("answers an unknown model with NotFoundError (404, model_not_found)", async () => {
    const error = await sdkError(() => client.chat.completions.create({ ...REQUEST, model: "gpt-17" }));
    expect(error).toBeInstanceOf(OpenAI.NotFoundError);
    expect(error.status).toBe(404);
    expect(error.code).toBe("model_not_found");
    expect(error.param).toBe("model");
    expect(error.message).toContain("gemma-7b");
  });

  it.each([
    ["temperature", { temperature: 3 }],
    ["messages", { messages: [] }],
    ["max_tokens", { max_tokens: 5000 }],
  ])("answers an invalid %s with BadRequestError naming it", async (param, change) => {
    const error = await sdkError(() => client.chat.completions.create({ ...REQUEST, ...change }));
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect(error.status).toBe(400);
    expect(error.param).toBe(param);
    expect(error.type).toBe("invalid_request_error");
  });

  it("writes no task for a refused request", async () => {
    const before = await stack.api.deps.db.task.count();
    await sdkError(() => client.chat.completions.create({ ...REQUEST, temperature: 3 }));
    await sdkError(() => client.chat.completions.create({ ...REQUEST, model: "gpt-17" }));
    expect(await stack.api.deps.db.task.count()).toBe(before);
  });
});

describe("openai SDK rate limits", () => {
  let stack: TestStack;
  let client: OpenAI;
  const calls = new TaskIds();
  beforeAll(async () => {
    stack = await startTestStack({ env: { RATE_LIMIT_PER_MINUTE: "2" } });
    // A tenant's key: the admin key has no limits.
    const res = await stack.request("/v1/admin/keys", { method: "POST", json: { name: "sdk-tenant" } });
    client = sdkClient(stack, ((await res.json()) as { data: { data: { key: string } } }).data.data.key);
  });
  afterAll(async () => {
    await stack.close();
  });

  it("answers the third request in a minute with RateLimitError, Retry-After and rate_limit_exceeded", async () => {
    await calls.of(client.chat.completions.create(REQUEST));
    const stream = await calls.of(client.chat.completions.create({ ...REQUEST, stream: true }));
    for await (const _chunk of stream);
    const error = await sdkError(() => client.chat.completions.create(REQUEST));
    expect(error).toBeInstanceOf(OpenAI.RateLimitError);
    expect(error.status).toBe(429);
    expect(error.code).toBe("rate_limit_exceeded");
    expect(error.type).toBe("rate_limit_error");
    const retryAfter = Number(error.headers?.get("retry-after"));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(60);

    // Only the two accepted calls became tasks.
    expect(await stack.api.deps.db.task.count()).toBe(2);
    expect((await historyIds(stack)).sort()).toEqual([...calls.ids].sort());
  });
});
