import { ProviderError } from "@llmq/core";
import { responsesApiEvents } from "../src/responses-stream";
import type { ProviderEvent } from "../src";

const context = { provider: "test", apiKey: null };

async function* bytes(...parts: string[]): AsyncGenerator<Uint8Array> {
  for (const part of parts) yield new TextEncoder().encode(part);
}

async function events(...parts: string[]): Promise<ProviderEvent[]> {
  const out: ProviderEvent[] = [];
  for await (const event of responsesApiEvents(bytes(...parts), context)) out.push(event);
  return out;
}

async function failure(...parts: string[]): Promise<ProviderError> {
  try {
    await events(...parts);
  } catch (error) {
    if (error instanceof ProviderError) return error;
    throw error;
  }
  throw new Error("expected the stream to fail");
}

let sequence = 0;
const frame = (type: string, fields: Record<string, unknown> = {}) => `event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: sequence++, ...fields })}\n\n`;
const usage = { input_tokens: 11, output_tokens: 7, total_tokens: 18 };
const opening = frame("response.created", { response: { status: "in_progress" } }) + frame("response.in_progress", { response: { status: "in_progress" } });

describe("responsesApiEvents (an upstream's own Responses API stream as provider events)", () => {
  it("text deltas, then done with the upstream's usage; a frame split across chunks is reassembled", async () => {
    const wire =
      opening +
      frame("response.output_item.added", { output_index: 0, item: { type: "message", id: "msg_1" } }) +
      frame("response.output_text.delta", { output_index: 0, delta: "héllo" }) +
      frame("response.output_text.delta", { output_index: 0, delta: " wörld" }) +
      frame("response.output_text.done", { output_index: 0, text: "héllo wörld" }) +
      frame("response.completed", { response: { status: "completed", usage } });
    const out = await events(wire.slice(0, 301), wire.slice(301));
    expect(out).toEqual([
      { type: "delta", text: "héllo" },
      { type: "delta", text: " wörld" },
      { type: "done", finishReason: "stop", usage: { promptTokens: 11, completionTokens: 7 } },
    ]);
  });

  it("function call items and their argument deltas, numbered in order of appearance, end as tool_calls", async () => {
    const out = await events(
      opening,
      frame("response.output_item.added", { output_index: 0, item: { type: "function_call", call_id: "call_a", name: "first", arguments: "" } }),
      frame("response.output_item.added", { output_index: 1, item: { type: "function_call", call_id: "call_b", name: "second", arguments: "" } }),
      frame("response.function_call_arguments.delta", { output_index: 1, delta: '{"b"' }),
      frame("response.function_call_arguments.delta", { output_index: 0, delta: "{}" }),
      frame("response.function_call_arguments.delta", { output_index: 1, delta: ":1}" }),
      frame("response.completed", { response: { status: "completed", usage } }),
    );
    expect(out).toEqual([
      { type: "tool_call", index: 0, id: "call_a", name: "first" },
      { type: "tool_call", index: 1, id: "call_b", name: "second" },
      { type: "tool_call", index: 1, arguments: '{"b"' },
      { type: "tool_call", index: 0, arguments: "{}" },
      { type: "tool_call", index: 1, arguments: ":1}" },
      { type: "done", finishReason: "tool_calls", usage: { promptTokens: 11, completionTokens: 7 } },
    ]);
  });

  it("incomplete: length at max_output_tokens, content_filter when the upstream says so", async () => {
    const incomplete = (reason: string) => frame("response.incomplete", { response: { status: "incomplete", incomplete_details: { reason }, usage } });
    expect((await events(opening, incomplete("max_output_tokens"))).at(-1)).toMatchObject({ type: "done", finishReason: "length" });
    expect((await events(opening, incomplete("content_filter"))).at(-1)).toMatchObject({ type: "done", finishReason: "content_filter" });
  });

  it("response.failed and error events: the upstream's message, retryable only when the code says the upstream failed", async () => {
    const failed = (code: string, message: string) => frame("response.failed", { response: { status: "failed", error: { code, message } } });
    const server = await failure(opening, failed("server_error", "The model crashed"));
    expect(server).toMatchObject({ code: "upstream_server_error", retryable: true });
    expect(server.message).toBe("the upstream failed the response (server_error): The model crashed");
    expect(await failure(opening, failed("rate_limit_exceeded", "slow down"))).toMatchObject({ code: "rate_limited", retryable: true });
    const prompt = await failure(opening, failed("invalid_prompt", "flagged"));
    expect(prompt).toMatchObject({ code: "upstream_bad_request", retryable: false });
    expect(prompt.message).toContain("flagged");
    const error = await failure(opening, frame("error", { code: "invalid_request_error", message: "bad tool", param: "tools" }));
    expect(error).toMatchObject({ code: "upstream_bad_request", retryable: false });
    expect(error.message).toContain("bad tool");
  });

  it("a stream that ends before a final event, or is not JSON, is a retryable protocol error", async () => {
    expect(await failure(opening, frame("response.output_text.delta", { output_index: 0, delta: "half" }))).toMatchObject({ code: "upstream_protocol", retryable: true });
    expect(await failure(opening, "event: response.output_text.delta\ndata: {not json\n\n")).toMatchObject({ code: "upstream_protocol", retryable: true });
  });
});
