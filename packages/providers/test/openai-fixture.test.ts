import { type OpenAIFixture, eventually, startOpenAIFixture } from "@llmq/testkit";

interface Completion {
  object: string;
  choices: Array<{ message: { content: string | null }; finish_reason: string }>;
  usage: unknown;
}

let fixture: OpenAIFixture;
const post = (body: unknown) =>
  fetch(`${fixture.url}/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });

beforeAll(async () => {
  fixture = await startOpenAIFixture({ models: ["m-1", "m-2"] });
});
afterAll(() => fixture.close());
beforeEach(() => fixture.setBehaviour({}));

describe("OpenAI fixture", () => {
  it("lists its models", async () => {
    const body = (await (await fetch(`${fixture.url}/models`)).json()) as { data: Array<{ id: string }> };
    expect(body.data.map((m) => m.id)).toEqual(["m-1", "m-2"]);
  });

  it("answers non-streaming requests with a chat.completion", async () => {
    const body = (await (await post({ model: "m-1", messages: [{ role: "user", content: "hi there" }], max_tokens: 2 })).json()) as Completion;
    expect(body.object).toBe("chat.completion");
    expect(body.choices[0]).toMatchObject({ message: { role: "assistant", content: "Echo: hi" }, finish_reason: "length" });
    expect(body.usage).toEqual({ prompt_tokens: 6, completion_tokens: 2, total_tokens: 8 });
  });

  it("streams a tool call for the first tool when tools are offered", async () => {
    const tools = [{ type: "function", function: { name: "lookup", parameters: {} } }];
    const text = await (await post({ model: "m-1", stream: true, messages: [{ role: "user", content: "x" }], tools })).text();
    expect(text).toContain('"name":"lookup"');
    expect(text).toContain('"arguments":"{}"');
    expect(text).toContain('"finish_reason":"tool_calls"');
    expect(text.trim().endsWith("data: [DONE]")).toBe(true);
  });

  it("uses a fixed reply and rejects unknown markers", async () => {
    fixture.setBehaviour({ reply: "fixed words" });
    const body = (await (await post({ messages: [{ role: "user", content: "ignored" }] })).json()) as Completion;
    expect(body.choices[0]?.message.content).toBe("fixed words");
    const bad = await post({ messages: [{ role: "user", content: "[[fixture:nope=1]]" }] });
    expect(bad.status).toBe(400);
  });

  it("records requests", async () => {
    await post({ messages: [{ role: "user", content: "recorded" }] });
    expect(fixture.requests.at(-1)).toMatchObject({ method: "POST", path: "/v1/chat/completions", body: { messages: [{ content: "recorded" }] } });
  });

  it("sees a client that hangs up: the request counts as aborted and its connection closes", async () => {
    fixture.setBehaviour({ stallAfterTokens: 0 });
    // The earlier tests' keep-alive connections close on their own within seconds: wait for them, so the
    // counts below are this request's alone (one of them closing meanwhile made the count fall by two).
    await eventually(async () => fixture.activeConnections() === 0 || undefined, { timeoutMs: 15_000, what: "earlier connections to close" });
    const controller = new AbortController();
    const response = await fetch(`${fixture.url}/chat/completions`, {
      method: "POST",
      body: JSON.stringify({ stream: true, messages: [{ role: "user", content: "hang" }] }),
      signal: controller.signal,
    });
    expect(response.status).toBe(200);
    const aborted = fixture.abortedRequests();
    expect(fixture.activeConnections()).toBe(1);
    controller.abort();
    await eventually(async () => (fixture.abortedRequests() === aborted + 1 && fixture.activeConnections() === 0) || undefined, { timeoutMs: 3000, what: "the aborted request and its closed connection" });
  });
});
