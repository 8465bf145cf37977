// Responses API tasks on an upstream whose provider declares its own Responses API (`responses_api: true`)
// are passed through to its `POST /v1/responses` (streamed), and its events become the same task as a
// chat completion's: what the fixture received, what the official `openai` package gets back, and how an
// upstream's failures end the task. Providers without it keep translating to chat completions.
import { type OpenAIFixture, type RecordedRequest, eventually, startOpenAIFixture } from "@llmq/testkit";
import { type TestStack, startTestStack } from "@llmq/stack";
import OpenAI from "openai";

const PASS = "pass-model";
const CHAT = "chat-model";

let fixture: OpenAIFixture;
let stack: TestStack;
let client: OpenAI;
beforeAll(async () => {
  fixture = await startOpenAIFixture();
  stack = await startTestStack({
    models: {
      providers: {
        responses: { type: "openai", base_url: fixture.url, api_key: "fixture-key", timeout_ms: 10_000, responses_api: true },
        chat: { type: "openai", base_url: fixture.url, timeout_ms: 10_000 },
      },
      models: [
        { id: PASS, provider: "responses", upstream_model: "fixture-model", concurrency: 4 },
        { id: CHAT, provider: "chat", upstream_model: "fixture-model", concurrency: 4 },
      ],
    },
  });
  client = new OpenAI({ baseURL: `${stack.url}/v1`, apiKey: stack.adminKey, maxRetries: 0 });
});
afterAll(async () => {
  await stack?.close();
  await fixture?.close();
});

/** The upstream requests that carried `marker` in their last input item or message. */
function received(marker: string): RecordedRequest[] {
  return fixture.requests.filter((request) => JSON.stringify(request.body).includes(marker));
}

const taskIdOf = (responseId: string) => responseId.slice("resp_".length);

async function finalResponse(id: string) {
  return eventually(async () => {
    const current = await client.responses.retrieve(id);
    return ["completed", "incomplete", "failed", "cancelled"].includes(current.status ?? "") ? current : undefined;
  }, { timeoutMs: 30_000, what: `response ${id} to end` });
}

describe("passing Responses API tasks through to an upstream that has the API", () => {
  it("sends the original Responses fields to /v1/responses and answers its text as the SDK expects", async () => {
    const response = await client.responses.create({
      model: PASS,
      instructions: "Answer briefly.",
      input: [
        { role: "user", content: "what did the tool say (text-1)" },
        { type: "function_call", call_id: "call_a", name: "lookup", arguments: '{"q":"x"}' },
        { type: "function_call_output", call_id: "call_a", output: "forty-two" },
        { role: "user", content: [{ type: "input_text", text: "so tell me (text-1)" }] },
      ],
      max_output_tokens: 50,
      temperature: 0.5,
      top_p: 0.9,
      text: { format: { type: "json_schema", name: "answer", schema: { type: "object", properties: { a: { type: "string" } } }, strict: true } },
    });

    const [request, ...more] = received("text-1");
    expect(more).toEqual([]);
    expect(request!.path).toBe("/v1/responses");
    expect(request!.headers.authorization).toBe("Bearer fixture-key");
    expect(request!.body).toEqual({
      model: "fixture-model",
      instructions: "Answer briefly.",
      input: [
        { type: "message", role: "user", content: "what did the tool say (text-1)" },
        { type: "function_call", call_id: "call_a", name: "lookup", arguments: '{"q":"x"}' },
        { type: "function_call_output", call_id: "call_a", output: "forty-two" },
        { type: "message", role: "user", content: "so tell me (text-1)" },
      ],
      text: { format: { type: "json_schema", name: "answer", schema: { type: "object", properties: { a: { type: "string" } } }, strict: true } },
      stream: true,
      max_output_tokens: 50,
      temperature: 0.5,
      top_p: 0.9,
      store: false,
    });

    expect(response.status).toBe("completed");
    expect(response.output_text).toBe("Echo: so tell me (text-1)");
    expect(response.output).toEqual([
      expect.objectContaining({ type: "message", role: "assistant", content: [expect.objectContaining({ type: "output_text", text: "Echo: so tell me (text-1)" })] }),
    ]);
    // The upstream's own usage (response.completed): its prompt count, not our estimate.
    // The fixture counts words plus 4 per message: system 2 + 4, user 6 + 4, the call 0 + 4, its output 1 + 4, user 4 + 4.
    expect(response.usage).toMatchObject({ input_tokens: 33, output_tokens: 5, total_tokens: 38 });
  });

  it("passes function tools through in the Responses shape and returns the upstream's call as a function_call item", async () => {
    const response = await client.responses.create({
      model: PASS,
      input: "weather please (tool-1)",
      tools: [{ type: "function", name: "get_weather", description: "Weather of a city", parameters: { type: "object", properties: { city: { type: "string" } } }, strict: false }],
      tool_choice: "required",
    });

    const [request] = received("tool-1");
    expect(request!.path).toBe("/v1/responses");
    const body = request!.body as Record<string, unknown>;
    expect(body.input).toEqual([{ type: "message", role: "user", content: "weather please (tool-1)" }]);
    expect(body.tools).toEqual([{ type: "function", name: "get_weather", description: "Weather of a city", parameters: { type: "object", properties: { city: { type: "string" } } }, strict: false }]);
    expect(body.tool_choice).toBe("required");
    expect(body.parallel_tool_calls).toBe(true);

    expect(response.status).toBe("completed");
    expect(response.output).toEqual([expect.objectContaining({ type: "function_call", name: "get_weather", arguments: "{}", call_id: expect.stringMatching(/^call_resp_fixture-\d+$/) })]);
    expect(response.output_text).toBe("");
    const task = (await stack.api.deps.tasks.findById(taskIdOf(response.id)))!;
    expect(task.finishReason).toBe("tool_calls");
  });

  it("answers incomplete when the upstream stops at max_output_tokens", async () => {
    const response = await client.responses.create({ model: PASS, input: "one two three four five (cut-1)", max_output_tokens: 2 });
    expect(received("cut-1")[0]!.path).toBe("/v1/responses");
    expect(response.status).toBe("incomplete");
    expect(response.incomplete_details).toEqual({ reason: "max_output_tokens" });
    expect(response.output_text).toBe("Echo: one");
    expect(response.usage).toMatchObject({ output_tokens: 2 });
  });

  it("refuses stop sequences, which the upstream's Responses API has no field for, before anything is written", async () => {
    const res = await stack.request("/v1/responses", { method: "POST", json: { model: PASS, input: "stop here (stop-1)", stop: ["here"] } });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { param: string; code: string; message: string } };
    expect(body.error).toMatchObject({ param: "stop", code: "unsupported_parameter" });
    expect(body.error.message).toMatch(/Responses API/);
    expect(received("stop-1")).toEqual([]);
  });

  it("keeps translating to chat completions for a provider that does not declare the API", async () => {
    const response = await client.responses.create({ model: CHAT, instructions: "Be kind.", input: "hello (chat-1)" });
    const [request] = received("chat-1");
    expect(request!.path).toBe("/v1/chat/completions");
    expect((request!.body as { messages: unknown }).messages).toEqual([
      { role: "system", content: "Be kind." },
      { role: "user", content: "hello (chat-1)" },
    ]);
    expect(response.output_text).toBe("Echo: hello (chat-1)");
  });
});

describe("a failing pass-through upstream", () => {
  it("answering 503 once is retried, and the response completes", async () => {
    const created = await client.responses.create({ model: PASS, input: "again (retry-1) [[fixture:failFirst=1,status=503]]", background: true });
    const done = await finalResponse(created.id);
    expect(done.status).toBe("completed");
    expect(done.output_text).toBe("Echo: again (retry-1)");
    expect(received("retry-1").map((request) => request.path)).toEqual(["/v1/responses", "/v1/responses"]);
    expect((await stack.api.deps.tasks.findById(taskIdOf(created.id)))!.attempts).toBe(2);
  });

  it("answering 400 fails the response at once with the upstream's message", async () => {
    const created = await client.responses.create({ model: PASS, input: "bad (reject-1) [[fixture:status=400,errorMessage=Invalid schema for text.format]]", background: true });
    const done = await finalResponse(created.id);
    expect(done.status).toBe("failed");
    expect(done.error?.code).toBe("upstream_bad_request");
    expect(done.error?.message).toContain("Invalid schema for text.format");
    expect(received("reject-1")).toHaveLength(1);
    expect((await stack.api.deps.tasks.findById(taskIdOf(created.id)))!.attempts).toBe(1);
  });

  it("a response.failed event mid-stream fails the response, retried only when its code says the upstream failed", async () => {
    const created = await client.responses.create({ model: PASS, input: "half (midway-1) [[fixture:errorFrameAfterTokens=2,errorCode=invalid_prompt,errorMessage=The prompt was flagged]]", background: true });
    const done = await finalResponse(created.id);
    expect(done.status).toBe("failed");
    expect(done.error?.message).toContain("The prompt was flagged");
    expect(done.error?.message).toContain("invalid_prompt");
    expect(received("midway-1")).toHaveLength(1);

    const flaky = await client.responses.create({ model: PASS, input: "flaky (midway-2) [[fixture:errorFrameAfterTokens=1,failFirst=0]]", background: true });
    // failFirst=0 answers every request normally at the HTTP level; the failed event comes each time,
    // so a retryable code (server_error) is tried again: more than one request reached the upstream.
    await eventually(async () => (received("midway-2").length >= 2 ? true : undefined), { timeoutMs: 20_000, what: "the retryable failure to be retried" });
    const retried = (await stack.api.deps.tasks.findById(taskIdOf(flaky.id)))!;
    expect(retried.attempts).toBeGreaterThanOrEqual(2);
    expect(retried.errorCode ?? "upstream_server_error").toBe("upstream_server_error");
    await stack.request(`/v1/ai/tasks/${retried.id}/cancel`, { method: "POST" });
  });

  it("a cancel while it runs closes the pass-through request, and the response stays cancelled", async () => {
    const abortedBefore = fixture.abortedRequests();
    const words = Array.from({ length: 30 }, (_, index) => `w${index}`).join(" ");
    const created = await client.responses.create({ model: PASS, input: `${words} (abort-1) [[fixture:tokenDelayMs=100]]`, background: true });
    const taskId = taskIdOf(created.id);
    await eventually(async () => ((await stack.api.deps.tasks.findById(taskId))?.status === "RUNNING" ? true : undefined), { what: "the response to run" });
    await new Promise((resolve) => setTimeout(resolve, 350));
    expect((await stack.request(`/v1/ai/tasks/${taskId}/cancel`, { method: "POST" })).status).toBe(200);
    await eventually(async () => (fixture.abortedRequests() === abortedBefore + 1 ? true : undefined), { what: "the upstream request to be aborted" });
    expect(received("abort-1").map((request) => request.path)).toEqual(["/v1/responses"]);
    // Kept once the worker says so (a checkpoint before the cancel shows completion tokens without the prompt's).
    await eventually(async () => ((await stack.api.deps.log.readAfter(taskId, "0")).some(({ event }) => event.type === "output_kept") ? true : undefined), {
      what: "the cancelled output to be kept",
    });
    const task = (await stack.api.deps.tasks.findById(taskId))!;
    expect(task.completionTokens).toBeGreaterThan(0);
    expect(task.status).toBe("CANCELLED");
    expect(task.promptTokens).toBeGreaterThan(0);
    expect((await client.responses.retrieve(created.id)).status).toBe("cancelled");
  });
});
