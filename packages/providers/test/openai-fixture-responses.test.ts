// The OpenAI fixture's `POST /v1/responses`: OpenAI's Responses API event stream, as the official
// `openai` package reads it (its stream helper checks the events' order and shapes as it assembles them).
import { type OpenAIFixture, startOpenAIFixture } from "@llmq/testkit";
import OpenAI from "openai";

let fixture: OpenAIFixture;
let client: OpenAI;
beforeAll(async () => {
  fixture = await startOpenAIFixture();
  client = new OpenAI({ baseURL: fixture.url, apiKey: "k", maxRetries: 0 });
});
afterAll(() => fixture.close());

describe("OpenAI fixture: /v1/responses", () => {
  it("streams a text answer with OpenAI's event names, strictly increasing sequence numbers, and the SDK assembles it", async () => {
    const stream = client.responses.stream({ model: "fixture-model", instructions: "Be brief.", input: "hello there" });
    const seen: { type: string; sequence_number: number }[] = [];
    for await (const event of stream) seen.push(event);
    const final = await stream.finalResponse();

    expect(seen.map((event) => event.type)).toEqual([
      "response.created",
      "response.in_progress",
      "response.output_item.added",
      "response.content_part.added",
      "response.output_text.delta",
      "response.output_text.delta",
      "response.output_text.delta",
      "response.output_text.done",
      "response.content_part.done",
      "response.output_item.done",
      "response.completed",
    ]);
    expect(seen.map((event) => event.sequence_number)).toEqual(seen.map((_, index) => index));
    expect(final.output_text).toBe("Echo: hello there");
    expect(final.usage).toMatchObject({ input_tokens: 2 + 4 + 2 + 4, output_tokens: 3, total_tokens: 15 });
    expect(fixture.requests.at(-1)).toMatchObject({ method: "POST", path: "/v1/responses", body: { model: "fixture-model", instructions: "Be brief.", input: "hello there", stream: true } });
  });

  it("calls the first function tool offered, with its arguments streamed", async () => {
    const stream = client.responses.stream({ model: "fixture-model", input: "weather", tools: [{ type: "function", name: "get_weather", parameters: { type: "object", properties: {} }, strict: true }] });
    const final = await stream.finalResponse();
    expect(final.status).toBe("completed");
    expect(final.output).toEqual([expect.objectContaining({ type: "function_call", name: "get_weather", arguments: "{}", status: "completed" })]);
  });

  it("ends incomplete at max_output_tokens, and fails with response.failed when asked", async () => {
    const cut = await client.responses.create({ model: "fixture-model", input: "one two three", max_output_tokens: 2, stream: true });
    const types: string[] = [];
    let last: unknown;
    for await (const event of cut) {
      types.push(event.type);
      last = event;
    }
    expect(types.at(-1)).toBe("response.incomplete");
    expect(last).toMatchObject({ response: { status: "incomplete", incomplete_details: { reason: "max_output_tokens" }, usage: { output_tokens: 2 } } });

    const failing = await client.responses.create({ model: "fixture-model", input: "x y z [[fixture:errorFrameAfterTokens=1,errorCode=server_error]]", stream: true });
    const events: { type: string }[] = [];
    for await (const event of failing) events.push(event);
    expect(events.at(-1)).toMatchObject({ type: "response.failed", response: { status: "failed", error: { code: "server_error" } } });
  });

  it("answers an HTTP error as the chat route does, and refuses a request that is not streamed", async () => {
    const error = await client.responses.create({ model: "fixture-model", input: "[[fixture:status=429,retryAfter=3]]", stream: true }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(OpenAI.RateLimitError);
    const unstreamed = await client.responses.create({ model: "fixture-model", input: "hi" }).catch((caught: unknown) => caught);
    expect(unstreamed).toBeInstanceOf(OpenAI.BadRequestError);
  });
});
