import type { OpenAIProviderConfig } from "@llmq/core";
import { type OpenAIFixture, startOpenAIFixture } from "@llmq/testkit";
import { OpenAICompatibleProvider } from "../src";
import { collect, user } from "./helpers";

let fixture: OpenAIFixture;
const provider = (overrides: Partial<OpenAIProviderConfig> = {}) =>
  new OpenAICompatibleProvider({ type: "openai", name: "fixture", base_url: fixture.url, apiKey: "sk-test-key", timeout_ms: 5000, headers: {}, ...overrides });
const lastBody = () => fixture.requests.at(-1)?.body as Record<string, unknown>;

beforeAll(async () => {
  fixture = await startOpenAIFixture();
});
afterAll(() => fixture.close());
beforeEach(() => fixture.setBehaviour({}));

describe("OpenAICompatibleProvider streaming", () => {
  it("assembles the streamed text and reports usage and finish reason", async () => {
    const result = await collect(provider(), [user("hello streaming world")]);
    expect(result.text).toBe("Echo: hello streaming world");
    expect(result.deltas).toEqual(["Echo:", " hello", " streaming", " world"]);
    expect(result.done).toEqual({ type: "done", finishReason: "stop", usage: { promptTokens: 3 + 4, completionTokens: 4 } });
  });

  it("forwards the upstream model, sampling params and credentials", async () => {
    await collect(
      provider({ headers: { "x-tenant": "t1" } }),
      [{ role: "system", content: "be nice" }, user("params please")],
      { maxTokens: 77, temperature: 0.3, topP: 0.9, topK: 40, stop: ["END"], seed: 42 },
      undefined,
      "upstream/model-7b",
    );
    const request = fixture.requests.at(-1)!;
    expect(request.path).toBe("/v1/chat/completions");
    expect(request.headers.authorization).toBe("Bearer sk-test-key");
    expect(request.headers["x-tenant"]).toBe("t1");
    expect(request.body).toEqual({
      model: "upstream/model-7b",
      messages: [
        { role: "system", content: "be nice" },
        { role: "user", content: "params please" },
      ],
      stream: true,
      stream_options: { include_usage: true },
      max_tokens: 77,
      temperature: 0.3,
      top_p: 0.9,
      top_k: 40,
      stop: ["END"],
      seed: 42,
    });
  });

  it("sends no optional params or Authorization when they are unset", async () => {
    await collect(provider({ apiKey: null }), [user("bare")], { maxTokens: 10 });
    expect(Object.keys(lastBody()).sort()).toEqual(["max_tokens", "messages", "model", "stream", "stream_options"]);
    expect(fixture.requests.at(-1)!.headers.authorization).toBeUndefined();
  });

  it("reports 'length' when the upstream hits max_tokens", async () => {
    const result = await collect(provider(), [user("one two three four five")], { maxTokens: 3 });
    expect(result.text).toBe("Echo: one two");
    expect(result.done.finishReason).toBe("length");
  });

  it("lets the upstream apply stop sequences", async () => {
    const result = await collect(provider(), [user("alpha beta gamma")], { stop: ["gamma"] });
    expect(result.text).toBe("Echo: alpha beta ");
    expect(result.done.finishReason).toBe("stop");
  });

  it("accepts a base_url with a trailing slash", async () => {
    const result = await collect(provider({ base_url: `${fixture.url}/` }), [user("slash")]);
    expect(result.text).toBe("Echo: slash");
  });

  it("accepts a finished stream without [DONE]", async () => {
    fixture.setBehaviour({ omitDone: true });
    const result = await collect(provider(), [user("no done")]);
    expect(result.text).toBe("Echo: no done");
    expect(result.done.finishReason).toBe("stop");
  });

  it("does not count a slow consumer against the idle timeout", async () => {
    const slow = provider({ idle_timeout_ms: 100 });
    const deltas: string[] = [];
    for await (const event of slow.stream({ model: "m", messages: [user("take your time")], params: { maxTokens: 50 } }, new AbortController().signal)) {
      if (event.type === "delta") {
        deltas.push(event.text);
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    }
    expect(deltas.join("")).toBe("Echo: take your time");
  });
});
