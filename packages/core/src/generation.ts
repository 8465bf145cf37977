/** Roles a chat message may carry. */
export const MESSAGE_ROLES = ["system", "developer", "user", "assistant", "tool"] as const;
export type MessageRole = (typeof MESSAGE_ROLES)[number];

/** A tool call as OpenAI's chat API writes it (assistant messages, completed choices). */
export interface ToolCall {
  id: string;
  type: "function";
  function: { name: string; arguments: string };
}

export interface ChatMessage {
  role: MessageRole;
  /** Text; null for an assistant message that only calls tools. */
  content: string | null;
  name?: string;
  tool_call_id?: string;
  tool_calls?: ToolCall[];
}

/** Sampling settings as a provider receives them, whatever dialect the task came in through. */
export interface GenerationParams {
  maxTokens: number;
  /** The caller set no limit: `maxTokens` is only the model's cap, and an upstream may apply its own (e.g. what fits its context). */
  maxTokensIsCap?: boolean;
  temperature?: number;
  topP?: number;
  topK?: number;
  stop?: string[];
  seed?: number;
  /**
   * OpenAI request fields passed to OpenAI-compatible upstreams as they are (tools, tool_choice,
   * response_format, logit_bias, penalties, ...). Providers that cannot honour them are refused at
   * the API, before a task exists.
   */
  passthrough?: Record<string, unknown>;
}

/** Why generation stopped, in OpenAI's words. */
export type FinishReason = "stop" | "length" | "tool_calls" | "content_filter" | "cancelled";

export interface Usage {
  promptTokens: number;
  completionTokens: number;
}

/**
 * One piece of a choice's streamed output, in the order the upstream sent them: a number is a text delta
 * of that many UTF-16 code units; `[i, n]` is a piece of tool call `i` (its id and name when first seen)
 * carrying `n` code units of its arguments. Kept for tasks that ask (`keep_pieces`, Responses API), so a
 * finished response's event stream can be replayed with the same events and sequence numbers it was
 * streamed with, after its Redis event stream has expired.
 */
export type StreamPiece = number | [toolIndex: number, argumentsLength: number];

/** One generated choice of a task (OpenAI's `choices[i]`). */
export interface Choice {
  index: number;
  text: string;
  finishReason: FinishReason | null;
  toolCalls: ToolCall[];
  /** The streamed pieces (see StreamPiece), when the task's configs ask for them (`keep_pieces`). */
  pieces?: StreamPiece[];
}
