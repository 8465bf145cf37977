import { ProviderError } from "@llmq/core";
import { chatCompletionEvents } from "../src/openai-stream";
import type { ProviderEvent } from "../src";

const context = { provider: "test", apiKey: null };

async function* bytes(...parts: string[]): AsyncGenerator<Uint8Array> {
  for (const part of parts) yield new TextEncoder().encode(part);
}

async function events(...parts: string[]): Promise<ProviderEvent[]> {
  const out: ProviderEvent[] = [];
  for await (const event of chatCompletionEvents(bytes(...parts), context)) out.push(event);
  return out;
}

const chunk = (content: string | null, finishReason: string | null = null) =>
  `data: ${JSON.stringify({ object: "chat.completion.chunk", choices: [{ index: 0, delta: content === null ? {} : { content }, finish_reason: finishReason }] })}\n\n`;

describe("chatCompletionEvents", () => {
  it("reassembles frames split across network chunks, multi-byte characters included", async () => {
    const wire = chunk("héllo") + chunk(" wörld") + chunk(null, "stop") + "data: [DONE]\n\n";
    const encoded = new TextEncoder().encode(wire);
    async function* byteByByte(): AsyncGenerator<Uint8Array> {
      for (let i = 0; i < encoded.length; i += 3) yield encoded.slice(i, i + 3);
    }
    const out: ProviderEvent[] = [];
    for await (const event of chatCompletionEvents(byteByByte(), context)) out.push(event);
    expect(out).toEqual([
      { type: "delta", text: "héllo" },
      { type: "delta", text: " wörld" },
      { type: "done", finishReason: "stop", usage: null },
    ]);
  });

  it("takes usage from a usage-only chunk with empty choices", async () => {
    const usage = `data: ${JSON.stringify({ choices: [], usage: { prompt_tokens: 11, completion_tokens: 2, total_tokens: 13 } })}\n\n`;
    const out = await events(chunk("hi"), chunk(null, "length"), usage, "data: [DONE]\n\n");
    expect(out.at(-1)).toEqual({ type: "done", finishReason: "length", usage: { promptTokens: 11, completionTokens: 2 } });
  });

  it("passes OpenAI finish reasons through and maps others to 'stop'", async () => {
    for (const reason of ["tool_calls", "content_filter"]) {
      expect((await events(chunk(null, reason), "data: [DONE]\n\n")).at(-1)).toMatchObject({ finishReason: reason });
    }
    expect((await events(chunk("x", "abort"), "data: [DONE]\n\n")).at(-1)).toMatchObject({ finishReason: "stop" });
  });

  it("accepts [DONE] without a trailing blank line and ignores SSE comments", async () => {
    const out = await events(": keep-alive\n\n", chunk("a", "stop"), "data: [DONE]\n");
    expect(out).toEqual([
      { type: "delta", text: "a" },
      { type: "done", finishReason: "stop", usage: null },
    ]);
  });

  it("fails with upstream_protocol when the stream ends unfinished", async () => {
    await expect(events(chunk("a"))).rejects.toMatchObject({ code: "upstream_protocol", retryable: true });
  });

  it("fails with upstream_protocol on a frame that is not JSON", async () => {
    await expect(events(chunk("a"), "data: {nope\n\n")).rejects.toBeInstanceOf(ProviderError);
    await expect(events("data: 42\n\n")).rejects.toMatchObject({ code: "upstream_protocol" });
  });

  it("classifies an error frame by the status vLLM puts in its code", async () => {
    const vllm = `data: ${JSON.stringify({ error: { object: "error", message: "too long", type: "BadRequestError", code: 400 } })}\n\n`;
    await expect(events(vllm)).rejects.toMatchObject({ code: "upstream_bad_request", retryable: false });
    const plain = `data: ${JSON.stringify({ error: { message: "overloaded", type: "server_error" } })}\n\n`;
    await expect(events(plain)).rejects.toMatchObject({ code: "upstream_server_error", retryable: true });
  });
});
