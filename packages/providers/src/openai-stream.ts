import { type FinishReason, type Usage, estimateTextTokens } from "@llmq/core";
import { createParser } from "eventsource-parser";
import { type ErrorContext, streamErrorToProviderError, upstreamError } from "./openai-errors";
import type { ProviderEvent } from "./provider";

/** What one `chat.completion.chunk` frame told us, after checking its shape. */
interface FrameContent {
  text: string | null;
  toolCalls: ProviderEvent[];
  finishReason: FinishReason | null;
  usage: Usage | null;
}

const PASSED_THROUGH: ReadonlySet<string> = new Set<FinishReason>(["stop", "length", "tool_calls", "content_filter"]);

/**
 * Turns the bytes of a streamed chat completion into provider events, ending with exactly one `done`.
 * Throws ProviderError `upstream_protocol` when the stream is not one, or ends before it finished.
 */
export async function* chatCompletionEvents(chunks: AsyncIterable<Uint8Array>, context: ErrorContext): AsyncGenerator<ProviderEvent> {
  const frames: string[] = [];
  const parser = createParser({ onEvent: (event) => frames.push(event.data) });
  const decoder = new TextDecoder();
  // Fields rather than locals: the finish reason and usage arrive in different frames.
  const result: { finishReason: FinishReason | null; usage: Usage | null } = { finishReason: null, usage: null };
  let sawDone = false;

  // Consumes the frames parsed so far; returns true once [DONE] arrived.
  function* drain(): Generator<ProviderEvent, boolean> {
    for (let data = frames.shift(); data !== undefined; data = frames.shift()) {
      if (data.trim() === "[DONE]") return true;
      if (data.trim() === "") continue;
      const frame = readFrame(data, context);
      if (frame.text) yield { type: "delta", text: frame.text };
      yield* frame.toolCalls;
      result.finishReason = frame.finishReason ?? result.finishReason;
      result.usage = frame.usage ?? result.usage;
    }
    return false;
  }

  for await (const chunk of chunks) {
    parser.feed(decoder.decode(chunk, { stream: true }));
    sawDone = yield* drain();
    if (sawDone) break;
  }
  if (!sawDone) {
    // A final frame without its blank line still counts (some servers end with `data: [DONE]\n`).
    parser.feed(decoder.decode());
    parser.reset({ consume: true });
    sawDone = yield* drain();
  }
  if (!sawDone && result.finishReason === null) {
    throw upstreamError(context, "upstream_protocol", "ended the stream before finishing", { retryable: true });
  }
  yield { type: "done", finishReason: result.finishReason ?? "stop", usage: result.usage };
}

/**
 * The events of a whole (non-streamed) `chat.completion` answer, as its stream would have given them: the
 * text as one delta, each tool call whole, then exactly one `done`. Throws ProviderError
 * `upstream_protocol` when the body is not such an answer, and the upstream's own error when it is one.
 */
export function chatCompletionAnswerEvents(body: string, context: ErrorContext): ProviderEvent[] {
  const answer = jsonFrame(body, context, "an answer");
  if (answer.error !== undefined && answer.error !== null) throw streamErrorToProviderError(context, answer, "in its answer");
  const choice = (Array.isArray(answer.choices) ? answer.choices[0] : undefined) as
    | { message?: { content?: unknown; tool_calls?: unknown } | null; finish_reason?: unknown }
    | undefined;
  if (typeof choice !== "object" || choice === null) {
    throw upstreamError(context, "upstream_protocol", "answered without a choice", { retryable: true });
  }
  const content = choice.message?.content;
  const reason = choice.finish_reason;
  const usage = toUsage(answer.usage);
  // The whole text is one delta: it counts as the tokens the upstream says it generated (or an estimate), not one.
  const tokens = usage?.completionTokens || (typeof content === "string" ? estimateTextTokens(content) : 0);
  return [
    ...(typeof content === "string" && content !== "" ? [{ type: "delta" as const, text: content, tokens: Math.max(1, tokens) }] : []),
    ...toolCallEvents(choice.message?.tool_calls),
    { type: "done", finishReason: typeof reason === "string" ? toFinishReason(reason) : "stop", usage },
  ];
}

/** One SSE frame's data (or a whole answer) as a JSON object; a retryable `upstream_protocol` error when it is not one. */
export function jsonFrame(data: string, context: ErrorContext, what = "a frame"): Record<string, unknown> {
  let frame: unknown;
  try {
    frame = JSON.parse(data);
  } catch (error) {
    throw upstreamError(context, "upstream_protocol", `sent ${what} that is not JSON: ${data.slice(0, 200)}`, { retryable: true, cause: error });
  }
  if (typeof frame !== "object" || frame === null) {
    throw upstreamError(context, "upstream_protocol", `sent ${what} that is not an object`, { retryable: true });
  }
  return frame as Record<string, unknown>;
}

function readFrame(data: string, context: ErrorContext): FrameContent {
  const frame = jsonFrame(data, context);
  const { choices, usage, error } = frame as { choices?: unknown; usage?: unknown; error?: unknown };
  if (error !== undefined && error !== null) throw streamErrorToProviderError(context, frame);

  const choice = (Array.isArray(choices) ? choices[0] : undefined) as
    | { delta?: { content?: unknown; tool_calls?: unknown } | null; text?: unknown; finish_reason?: unknown }
    | undefined;
  // Chat chunks carry `delta.content`; legacy completion chunks carry `text`.
  const content = choice?.delta?.content ?? choice?.text;
  const reason = choice?.finish_reason;
  return {
    text: typeof content === "string" && content !== "" ? content : null,
    toolCalls: toolCallEvents(choice?.delta?.tool_calls),
    finishReason: typeof reason === "string" ? toFinishReason(reason) : null,
    usage: toUsage(usage),
  };
}

/** Tool-call deltas, kept as the upstream split them: the worker assembles the calls. */
function toolCallEvents(toolCalls: unknown): ProviderEvent[] {
  if (!Array.isArray(toolCalls)) return [];
  return toolCalls.flatMap((call: unknown, position): ProviderEvent[] => {
    if (typeof call !== "object" || call === null) return [];
    const { index, id, function: fn } = call as { index?: unknown; id?: unknown; function?: { name?: unknown; arguments?: unknown } };
    return [
      {
        type: "tool_call",
        index: typeof index === "number" ? index : position,
        ...(typeof id === "string" ? { id } : {}),
        ...(typeof fn?.name === "string" ? { name: fn.name } : {}),
        ...(typeof fn?.arguments === "string" ? { arguments: fn.arguments } : {}),
      },
    ];
  });
}

// Upstreams invent their own reasons (vLLM "abort", Ollama "eos"); the queue only knows OpenAI's.
function toFinishReason(reason: string): FinishReason {
  return PASSED_THROUGH.has(reason) ? (reason as FinishReason) : "stop";
}

function toUsage(usage: unknown): Usage | null {
  if (typeof usage !== "object" || usage === null) return null;
  const { prompt_tokens: prompt, completion_tokens: completion } = usage as { prompt_tokens?: unknown; completion_tokens?: unknown };
  if (typeof prompt !== "number" && typeof completion !== "number") return null;
  return {
    promptTokens: typeof prompt === "number" ? prompt : 0,
    completionTokens: typeof completion === "number" ? completion : 0,
  };
}
