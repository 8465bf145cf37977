// The official `openai` package against a model served by an OpenAI-compatible upstream (the fixture):
// fields passed through, tool calls, upstream failures, and a client leaving mid-stream.
import { jobCatalog } from "@llmq/queue";
import { type OpenAIFixture, eventually, startOpenAIFixture } from "@llmq/testkit";
import { type TestStack, startTestStack } from "@llmq/stack";
import OpenAI from "openai";
import type { ChatCompletionChunk, ChatCompletionCreateParamsNonStreaming, ChatCompletionMessageToolCall } from "openai/resources/chat/completions";
import { TaskIds, flexTask, historyIds, sdkClient, sdkError, taskIdOf } from "./openai-sdk-support";

const UPSTREAM_MODEL = "fixture-model";

let fixture: OpenAIFixture;
let stack: TestStack;
let client: OpenAI;
const calls = new TaskIds();
beforeAll(async () => {
  fixture = await startOpenAIFixture();
  stack = await startTestStack({
    models: {
      providers: { upstream: { type: "openai", base_url: fixture.url, api_key: "k", timeout_ms: 10_000 } },
      models: [{ id: UPSTREAM_MODEL, provider: "upstream", concurrency: 4 }],
    },
  });
  client = sdkClient(stack);
});
afterAll(async () => {
  await stack.close();
  await fixture.close();
});

const WEATHER_TOOL = {
  type: "function" as const,
  function: {
    name: "get_weather",
    description: "The weather in a city",
    parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
  },
};

// Every field the upstream should receive as the caller sent it.
const TOOL_REQUEST: ChatCompletionCreateParamsNonStreaming = {
  model: UPSTREAM_MODEL,
  messages: [{ role: "user", content: "What is the weather in Paris?" }],
  tools: [WEATHER_TOOL],
  tool_choice: "auto",
  temperature: 0.3,
  top_p: 0.9,
  max_tokens: 50,
  stop: ["END"],
  seed: 42,
  presence_penalty: 0.5,
  frequency_penalty: 0.25,
  response_format: { type: "json_object" },
  user: "user-1234",
};

function functionCall(call: ChatCompletionMessageToolCall | undefined) {
  if (call?.type !== "function") throw new Error(`expected a function tool call, got ${JSON.stringify(call)}`);
  return call;
}

/** The chat-completions bodies the fixture received since `from`. */
const upstreamBodies = (from: number) =>
  fixture.requests.slice(from).filter((request) => request.path === "/v1/chat/completions").map((request) => request.body as Record<string, unknown>);

describe("an upstream-served model through the openai SDK", () => {
  it("passes tools and sampling fields to the upstream and answers its tool call", async () => {
    const from = fixture.requests.length;
    const response = await calls.of(client.chat.completions.create(TOOL_REQUEST));

    const [choice] = response.choices;
    expect(choice?.finish_reason).toBe("tool_calls");
    expect(choice?.message.content).toBeNull();
    expect(choice?.message.tool_calls).toHaveLength(1);
    const call = functionCall(choice?.message.tool_calls?.[0]);
    expect(call.id).toEqual(expect.any(String));
    expect(call.function).toEqual({ name: "get_weather", arguments: "{}" });

    const [body, ...more] = upstreamBodies(from);
    expect(more).toHaveLength(0);
    expect(body).toMatchObject({
      model: UPSTREAM_MODEL,
      messages: [{ role: "user", content: "What is the weather in Paris?" }],
      tools: [WEATHER_TOOL],
      tool_choice: "auto",
      temperature: 0.3,
      top_p: 0.9,
      max_tokens: 50,
      stop: ["END"],
      seed: 42,
      presence_penalty: 0.5,
      frequency_penalty: 0.25,
      response_format: { type: "json_object" },
      user: "user-1234",
    });
  });

  it("leaves the limit to the upstream when the caller set none, and sends max_completion_tokens as max_tokens", async () => {
    const from = fixture.requests.length;
    const messages = [{ role: "user" as const, content: "No limit from me." }];
    await calls.of(client.chat.completions.create({ model: UPSTREAM_MODEL, messages }));
    await calls.of(client.chat.completions.create({ model: UPSTREAM_MODEL, messages, max_completion_tokens: 7 }));
    const [unlimited, limited] = upstreamBodies(from);
    expect(unlimited).not.toHaveProperty("max_tokens");
    expect(limited).toMatchObject({ max_tokens: 7 });
  });

  it("streams the tool call as deltas that assemble into the same call", async () => {
    const stream = await calls.of(client.chat.completions.create({ ...TOOL_REQUEST, stream: true }));
    const chunks: ChatCompletionChunk[] = [];
    for await (const chunk of stream) chunks.push(chunk);

    const pieces = chunks.flatMap((chunk) => chunk.choices.flatMap((choice) => choice.delta.tool_calls ?? []));
    expect(pieces.length).toBeGreaterThan(0);
    const assembled = { id: "", name: "", arguments: "" };
    for (const piece of pieces) {
      expect(piece.index).toBe(0);
      if (piece.id) assembled.id = piece.id;
      assembled.name += piece.function?.name ?? "";
      assembled.arguments += piece.function?.arguments ?? "";
    }
    expect(assembled).toEqual({ id: expect.stringMatching(/.+/), name: "get_weather", arguments: "{}" });
    expect(pieces[0]?.type).toBe("function");
    const withChoices = chunks.filter((chunk) => chunk.choices.length > 0);
    expect(withChoices.at(-1)?.choices[0]?.finish_reason).toBe("tool_calls");
    expect(withChoices.slice(0, -1).every((chunk) => chunk.choices[0]?.finish_reason === null)).toBe(true);
  });

  it("surfaces an upstream that keeps failing with 500 as a 5xx APIError", async () => {
    const from = fixture.requests.length;
    // retry-after-ms keeps the queue's backoff between the attempts short.
    const content = "Fail on the server side [[fixture:status=500,retryAfterMs=50]]";
    const { data: error, taskId } = await failingCall(content);
    expect(error).toBeInstanceOf(OpenAI.InternalServerError);
    expect(error.status).toBeGreaterThanOrEqual(500);
    expect(error.code).toBe("upstream_server_error");
    // Every attempt the job is allowed reached the upstream before the task gave up.
    const attempts = jobCatalog["text-completion"].options.attempts;
    expect(upstreamBodies(from)).toHaveLength(attempts);
    expect(await flexTask(stack, taskId)).toMatchObject({ status: "FAILED", attempts, error: { code: "upstream_server_error" } });
  });

  it("surfaces an upstream 400 as BadRequestError, without retrying", async () => {
    const from = fixture.requests.length;
    const { data: error, taskId } = await failingCall("Reject this [[fixture:status=400]]");
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect(error.status).toBe(400);
    expect(error.code).toBe("upstream_bad_request");
    expect(upstreamBodies(from)).toHaveLength(1);
    expect(await flexTask(stack, taskId)).toMatchObject({ status: "FAILED", attempts: 1, error: { code: "upstream_bad_request" } });
  });

  it("cancels the task and the upstream request when the client leaves a stream", async () => {
    const abortedBefore = fixture.abortedRequests();
    const words = Array.from({ length: 40 }, (_, i) => `word${i}`).join(" ");
    const { data: stream, response } = await client.chat.completions
      .create({ model: UPSTREAM_MODEL, messages: [{ role: "user", content: `${words} [[fixture:tokenDelayMs=100]]` }], stream: true })
      .withResponse();
    const taskId = taskIdOf(response);
    calls.ids.push(taskId);

    let contentChunks = 0;
    for await (const chunk of stream) {
      if (chunk.choices[0]?.delta.content) contentChunks++;
      // Leaving the loop aborts the SDK's request, which closes the connection.
      if (contentChunks === 2) break;
    }
    expect(contentChunks).toBe(2);

    const task = await eventually(
      async () => {
        const current = await flexTask(stack, taskId);
        return current.status === "CANCELLED" && current.usage.completion_tokens > 0 ? current : undefined;
      },
      { what: "the task cancelled with its partial usage" },
    );
    expect(task.response).toMatch(/^Echo: word0/);
    expect(task.usage.completion_tokens).toBeLessThan(41);
    await eventually(async () => (fixture.abortedRequests() === abortedBefore + 1 ? true : undefined), { what: "the upstream request aborted" });
  });

  it("lists every call above in the task history", async () => {
    expect(calls.ids).toHaveLength(7);
    expect(await historyIds(stack)).toEqual(expect.arrayContaining(calls.ids));
  });

  it("asks the upstream as its caller asked: whole for a waited answer, streamed for a stream, a 202's polled task and a task-API task", async () => {
    const from = fixture.requests.length;
    const ask = (content: string) => [{ role: "user" as const, content }];
    const whole = await client.chat.completions.create({ model: UPSTREAM_MODEL, messages: ask("ask me whole") });
    expect(whole.choices[0]?.message.content).toBe("Echo: ask me whole");
    expect(whole.choices[0]?.finish_reason).toBe("stop");
    expect(whole.usage).toMatchObject({ completion_tokens: 4 });

    let streamed = "";
    for await (const chunk of await client.chat.completions.create({ model: UPSTREAM_MODEL, messages: ask("ask me streamed"), stream: true })) streamed += chunk.choices[0]?.delta.content ?? "";
    expect(streamed).toBe("Echo: ask me streamed");

    // Answered 202: its progress can be polled while it runs, so its upstream streams.
    const accepted = await stack.request("/v1/chat/completions", { method: "POST", headers: { prefer: "respond-async" }, json: { model: UPSTREAM_MODEL, messages: ask("ask me later") } });
    expect(accepted.status).toBe(202);
    const submitted = await stack.request("/v1/ai/text_completion", { method: "POST", json: { messages: ask("ask me as a task"), configs: { model: UPSTREAM_MODEL } } });
    expect(submitted.status).toBe(200);
    const taskIds = [taskIdOf(accepted), ((await submitted.json()) as { data: { data: { task_id: string } } }).data.data.task_id];
    for (const taskId of taskIds) {
      await eventually(async () => ((await flexTask(stack, taskId)).status === "COMPLETED" ? true : undefined), { what: `task ${taskId} completed` });
    }
    expect((await flexTask(stack, taskIds[0]!)).response).toBe("Echo: ask me later");

    const asked = Object.fromEntries(
      upstreamBodies(from).map((body) => [(body.messages as Array<{ content: string }>)[0]!.content, { stream: body.stream, stream_options: body.stream_options }]),
    );
    expect(asked).toEqual({
      "ask me whole": { stream: false, stream_options: undefined },
      "ask me streamed": { stream: true, stream_options: { include_usage: true } },
      "ask me later": { stream: true, stream_options: { include_usage: true } },
      "ask me as a task": { stream: true, stream_options: { include_usage: true } },
    });
  });
});

/** A non-stream chat call that must fail; returns the SDK's error and the task id from the error's headers. */
async function failingCall(content: string) {
  const data = await sdkError(() => client.chat.completions.create({ model: UPSTREAM_MODEL, messages: [{ role: "user", content }] }));
  const taskId = data.headers?.get("x-task-id");
  expect(taskId).toMatch(/^[0-9a-f]{32}$/);
  calls.ids.push(taskId!);
  return { data, taskId: taskId! };
}
