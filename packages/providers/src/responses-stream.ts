import type { FinishReason, ProviderErrorKind, Usage } from "@llmq/core";
import { createParser } from "eventsource-parser";
import { type ErrorContext, upstreamError } from "./openai-errors";
import { jsonFrame } from "./openai-stream";
import type { ProviderEvent } from "./provider";

/** Error codes of OpenAI's `response.failed` and `error` events that another attempt can get past. */
const RETRYABLE_CODES: ReadonlySet<string> = new Set(["server_error", "rate_limit_exceeded", "internal_error", "timeout"]);

type Frame = Record<string, unknown>;

/**
 * Turns the bytes of a streamed Responses API answer (`POST /v1/responses` with `stream: true`) into the
 * provider events a chat completion yields, so nothing downstream knows which API the upstream spoke:
 * `response.output_text.delta` -> delta; a function call item and its
 * `response.function_call_arguments.delta`s -> tool_call pieces (numbered in order of appearance);
 * `response.completed` -> done (`tool_calls` when it called a function, else `stop`) with its usage;
 * `response.incomplete` -> done `length` (or `content_filter`); `response.failed` and `error` -> a
 * ProviderError, retryable when its code says the upstream failed (server_error, rate_limit_exceeded).
 * Throws `upstream_protocol` (retryable) when the stream is not one or ends before a final event.
 */
export async function* responsesApiEvents(chunks: AsyncIterable<Uint8Array>, context: ErrorContext): AsyncGenerator<ProviderEvent> {
  const frames: string[] = [];
  const parser = createParser({ onEvent: (event) => frames.push(event.data) });
  const decoder = new TextDecoder();
  // output_index of a function call item -> its tool call index (0, 1, ... in order of appearance).
  const calls = new Map<number, number>();
  let done: Extract<ProviderEvent, { type: "done" }> | null = null;

  function* drain(): Generator<ProviderEvent> {
    for (let data = frames.shift(); data !== undefined && done === null; data = frames.shift()) {
      if (data.trim() === "" || data.trim() === "[DONE]") continue;
      const frame = jsonFrame(data, context);
      switch (frame.type) {
        case "response.output_text.delta":
          if (typeof frame.delta === "string" && frame.delta !== "") yield { type: "delta", text: frame.delta };
          break;
        case "response.output_item.added": {
          const item = frame.item as Frame | undefined;
          if (item?.type !== "function_call") break;
          const index = calls.size;
          calls.set(Number(frame.output_index), index);
          const args = typeof item.arguments === "string" && item.arguments !== "" ? { arguments: item.arguments } : {};
          yield { type: "tool_call", index, ...(typeof item.call_id === "string" ? { id: item.call_id } : {}), ...(typeof item.name === "string" ? { name: item.name } : {}), ...args };
          break;
        }
        case "response.function_call_arguments.delta": {
          const index = calls.get(Number(frame.output_index));
          if (index !== undefined && typeof frame.delta === "string" && frame.delta !== "") yield { type: "tool_call", index, arguments: frame.delta };
          break;
        }
        case "response.completed":
        case "response.incomplete": {
          const response = (frame.response ?? {}) as Frame;
          done = { type: "done", finishReason: finishReasonOf(response, calls.size > 0), usage: toUsage(response.usage) };
          break;
        }
        case "response.failed":
          throw failure(context, ((frame.response as Frame | undefined)?.error ?? {}) as Frame);
        case "error":
          throw failure(context, frame);
        default:
          // created, in_progress, queued, content parts, *.done events: nothing a task needs.
          break;
      }
    }
  }

  for await (const chunk of chunks) {
    parser.feed(decoder.decode(chunk, { stream: true }));
    yield* drain();
    if (done) break;
  }
  if (!done) {
    parser.feed(decoder.decode());
    parser.reset({ consume: true });
    yield* drain();
  }
  if (!done) throw upstreamError(context, "upstream_protocol", "ended the response stream before it finished", { retryable: true });
  yield done;
}

function finishReasonOf(response: Frame, calledFunctions: boolean): FinishReason {
  if (response.status === "incomplete") {
    const reason = (response.incomplete_details as Frame | null | undefined)?.reason;
    return reason === "content_filter" ? "content_filter" : "length";
  }
  return calledFunctions ? "tool_calls" : "stop";
}

/** The upstream's `response.failed` error or `error` event: what it said, retryable when its code says the upstream failed. */
function failure(context: ErrorContext, error: Frame) {
  const code = typeof error.code === "string" ? error.code : null;
  const message = typeof error.message === "string" ? error.message : "no error message";
  const retryable = code === null || RETRYABLE_CODES.has(code);
  const kind: ProviderErrorKind = code === "rate_limit_exceeded" ? "rate_limited" : retryable ? "upstream_server_error" : "upstream_bad_request";
  return upstreamError(context, kind, `failed the response${code ? ` (${code})` : ""}: ${message}`, { retryable, upstreamStatus: 200 });
}

function toUsage(usage: unknown): Usage | null {
  if (typeof usage !== "object" || usage === null) return null;
  const { input_tokens: input, output_tokens: output } = usage as { input_tokens?: unknown; output_tokens?: unknown };
  if (typeof input !== "number" && typeof output !== "number") return null;
  return { promptTokens: typeof input === "number" ? input : 0, completionTokens: typeof output === "number" ? output : 0 };
}
