import { type OpenAIProviderConfig, ProviderError } from "@llmq/core";
import { type OpenAIFixture, eventually, startOpenAIFixture } from "@llmq/testkit";
import { OpenAICompatibleProvider, type ProviderEvent, type ProviderRequest } from "../src";
import { chatCompletionAnswerEvents } from "../src/openai-stream";
import { failure, user } from "./helpers";

let fixture: OpenAIFixture;
const provider = (overrides: Partial<OpenAIProviderConfig> = {}) =>
  new OpenAICompatibleProvider({ type: "openai", name: "fixture", base_url: fixture.url, apiKey: "sk-test-key", timeout_ms: 5000, headers: {}, ...overrides });
const lastRequest = () => fixture.requests.at(-1)!;

/** Every event of one request asked whole (or as `overrides` say), in order. */
async function events(content: string, overrides: Partial<ProviderRequest> = {}, config: Partial<OpenAIProviderConfig> = {}, signal = new AbortController().signal): Promise<ProviderEvent[]> {
  const seen: ProviderEvent[] = [];
  const request: ProviderRequest = { model: "test-model", messages: [user(content)], params: { maxTokens: 1024 }, whole: true, ...overrides };
  for await (const event of provider(config).stream(request, signal)) seen.push(event);
  return seen;
}

beforeAll(async () => {
  fixture = await startOpenAIFixture();
});
afterAll(() => fixture.close());
beforeEach(() => fixture.setBehaviour({}));

describe("OpenAICompatibleProvider, a request nobody reads piece by piece (whole)", () => {
  it("asks the upstream for the whole answer (stream: false, JSON) and yields it as one delta, then done with usage", async () => {
    expect(await events("hello whole world")).toEqual([
      { type: "delta", text: "Echo: hello whole world", tokens: 4 },
      { type: "done", finishReason: "stop", usage: { promptTokens: 3 + 4, completionTokens: 4 } },
    ]);
    const request = lastRequest();
    expect(request.path).toBe("/v1/chat/completions");
    expect(request.headers.accept).toBe("application/json");
    expect(request.body).toEqual({ model: "test-model", messages: [{ role: "user", content: "hello whole world" }], stream: false, max_tokens: 1024 });
  });

  it("keeps the upstream's finish reason and tool calls, each call whole", async () => {
    expect(await events("two three four five", { params: { maxTokens: 2 } })).toEqual([
      { type: "delta", text: "Echo: two", tokens: 2 },
      { type: "done", finishReason: "length", usage: { promptTokens: 4 + 4, completionTokens: 2 } },
    ]);
    const tools = [{ type: "function", function: { name: "get_weather", parameters: { type: "object" } } }];
    const called = await events("weather?", { params: { maxTokens: 1024, passthrough: { tools } } });
    expect(called).toEqual([
      { type: "tool_call", index: 0, id: expect.stringMatching(/^call_/), name: "get_weather", arguments: "{}" },
      { type: "done", finishReason: "tool_calls", usage: { promptTokens: 1 + 4, completionTokens: 1 } },
    ]);
  });

  it("streams instead when the provider streams always, for a Responses API pass-through, and when the request is not whole", async () => {
    const streamed = await events("stream me anyway", {}, { stream_always: true });
    expect(streamed.filter((event) => event.type === "delta")).toHaveLength(4);
    expect(lastRequest().body).toMatchObject({ stream: true, stream_options: { include_usage: true } });
    expect(lastRequest().headers.accept).toBe("text/event-stream");

    // The fixture answers /v1/responses streamed only (400 otherwise): this passes only if it was streamed.
    const passed = await events("pass it through", { responses: { input: "pass it through" } }, { responses_api: true });
    expect(lastRequest().path).toBe("/v1/responses");
    expect(passed.at(-1)).toMatchObject({ type: "done", finishReason: "stop" });

    await events("not whole", { whole: false });
    expect(lastRequest().body).toMatchObject({ stream: true });
  });

  it("waits for the whole generation however slow its tokens, bounded by whole_timeout_ms rather than idle_timeout_ms", async () => {
    // 8 tokens 60 ms apart: ~420 ms to the answer, past a 100 ms idle timeout that would cut a stream.
    const slow = await events("[[fixture:tokenDelayMs=60]] a b c d e f", {}, { idle_timeout_ms: 100, timeout_ms: 100, whole_timeout_ms: 5000 });
    expect(slow[0]).toEqual({ type: "delta", text: "Echo: a b c d e f", tokens: 7 });

    const error = (await failure(events("[[fixture:stallAfterTokens=1]] never answers", {}, { whole_timeout_ms: 300 }))) as unknown as ProviderError;
    expect(error).toBeInstanceOf(ProviderError);
    expect(error).toMatchObject({ code: "upstream_timeout", retryable: true });
    expect(error.message).toContain("did not finish its answer within 300 ms");
  });

  it("classifies a failed answer as a stream's failure is classified", async () => {
    const limited = (await failure(events("[[fixture:status=429,retryAfter=2]] hi"))) as unknown as ProviderError;
    expect(limited).toMatchObject({ code: "rate_limited", retryable: true, retryAfterMs: 2000, upstreamStatus: 429 });

    const errorBody = (await failure(events("[[fixture:errorFrameAfterTokens=1]] hi"))) as unknown as ProviderError;
    expect(errorBody).toMatchObject({ code: "upstream_server_error", retryable: true });
    expect(errorBody.message).toContain("sent an error in its answer: fixture failed mid-answer");

    const malformed = (await failure(events("[[fixture:malformedAfterTokens=1]] hi"))) as unknown as ProviderError;
    expect(malformed).toMatchObject({ code: "upstream_protocol", retryable: true });
    expect(malformed.message).toContain("sent an answer that is not JSON");

    const empty = (await failure(events("[[fixture:endAfterTokens=1]] hi"))) as unknown as ProviderError;
    expect(empty).toMatchObject({ code: "upstream_protocol", retryable: true });

    const reset = (await failure(events("[[fixture:resetAfterTokens=1]] hi"))) as unknown as ProviderError;
    expect(reset).toBeInstanceOf(ProviderError);
    expect(reset.retryable).toBe(true);
  });

  it("keeps its connections once an answer is read, and gives up the request when the caller aborts", async () => {
    const before = fixture.acceptedConnections();
    const shared = provider();
    for (let request = 0; request < 6; request++) {
      for await (const event of shared.stream({ model: "m", messages: [user(`request ${request}`)], params: { maxTokens: 16 }, whole: true }, new AbortController().signal)) void event;
    }
    // One request at a time: a socket freed a moment after the answer was read may make the pool open a
    // second one, never one per request.
    expect(fixture.acceptedConnections() - before).toBeLessThanOrEqual(2);
    await shared.close();

    const aborted = fixture.abortedRequests();
    const controller = new AbortController();
    const waiting = events("[[fixture:firstTokenDelayMs=5000]] slow", {}, {}, controller.signal);
    await eventually(async () => (fixture.requests.some((request) => JSON.stringify(request.body).includes("firstTokenDelayMs=5000")) ? true : undefined), { timeoutMs: 3000, what: "the request at the upstream" });
    controller.abort(new Error("caller left"));
    await expect(waiting).rejects.toThrow("caller left");
    await eventually(async () => (fixture.abortedRequests() === aborted + 1 ? true : undefined), { timeoutMs: 3000, what: "the upstream request cut" });
  });

  it("counts a whole text as the tokens the upstream reports, or as an estimate when it reports no usage", () => {
    const context = { provider: "fixture", apiKey: null };
    const answer = (usage: unknown) => JSON.stringify({ choices: [{ message: { content: "a".repeat(400) }, finish_reason: "stop" }], ...(usage ? { usage } : {}) });
    expect(chatCompletionAnswerEvents(answer({ prompt_tokens: 5, completion_tokens: 90 }), context)[0]).toEqual({ type: "delta", text: "a".repeat(400), tokens: 90 });
    // 400 characters, about four to a token.
    expect(chatCompletionAnswerEvents(answer(null), context)).toEqual([
      { type: "delta", text: "a".repeat(400), tokens: 100 },
      { type: "done", finishReason: "stop", usage: null },
    ]);
  });
});
