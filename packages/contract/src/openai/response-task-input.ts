import { type ChatMessage, type TaskInput, deadlinesOf, serviceTierOf } from "@llmq/core";
import type { ResponseCreateRequest } from "./responses-api";
import { tierInput } from "../shared/service-tier";

type InputItem = Exclude<ResponseCreateRequest["input"], string>[number];

/** What a response task keeps of its request, to answer with OpenAI's response object (configs.responses). */
export interface StoredResponseRequest {
  instructions: string | null;
  max_output_tokens: number | null;
  metadata: Record<string, string>;
  previous_response_id: string | null;
  background: boolean;
  store: boolean;
  service_tier: string;
  parallel_tool_calls: boolean;
  text: { format: Record<string, unknown>; verbosity?: string };
  /** Echoed as OpenAI does (absent on responses stored before they were kept). */
  prompt_cache_key?: string | null;
  safety_identifier?: string | null;
  tools: Record<string, unknown>[];
  tool_choice: string | Record<string, unknown>;
  truncation: string;
  user: string | null;
  /** How many of the task's messages (the last ones) are this request's own input items. */
  input_messages: number;
  /** Ours: the caller asked for a stream (the event log is replayable either way). */
  stream: boolean;
}

function partsText(content: Extract<InputItem, { role: string }>["content"]): string {
  if (typeof content === "string") return content;
  return content.map((part) => (part.type === "refusal" ? part.refusal : part.text)).join("");
}

/**
 * A Responses API `input` as chat messages: message items as they are (text parts joined), function
 * calls as an assistant message's tool calls (consecutive calls share one message), function call
 * outputs as tool messages.
 */
export function inputMessages(input: ResponseCreateRequest["input"]): ChatMessage[] {
  if (typeof input === "string") return [{ role: "user", content: input }];
  const messages: ChatMessage[] = [];
  for (const item of input) {
    if (item.type === "function_call") {
      const call = { id: item.call_id, type: "function" as const, function: { name: item.name, arguments: item.arguments } };
      const last = messages.at(-1);
      if (last?.role === "assistant" && last.tool_calls && last.content === null) last.tool_calls.push(call);
      else messages.push({ role: "assistant", content: null, tool_calls: [call] });
    } else if (item.type === "function_call_output") {
      messages.push({ role: "tool", content: item.output, tool_call_id: item.call_id });
    } else {
      messages.push({ role: item.role, content: partsText(item.content) });
    }
  }
  return messages;
}

/** `text.format` as chat completions' `response_format` (what OpenAI-compatible upstreams read). */
function responseFormatOf(format: NonNullable<NonNullable<ResponseCreateRequest["text"]>["format"]> | undefined): Record<string, unknown> | undefined {
  if (!format || format.type === "text") return undefined;
  if (format.type === "json_object") return { type: "json_object" };
  const { type: _type, ...schema } = format;
  return { type: "json_schema", json_schema: schema };
}

function defined(fields: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== null && value !== undefined));
}

/**
 * A Responses API request as a task. `history` is the conversation of `previous_response_id` (its input
 * and output as chat messages, its instructions left out, as OpenAI does); this request's instructions
 * come first as a system message, then the history, then this input.
 */
export function responseTaskInput(body: ResponseCreateRequest, history: ChatMessage[] = []): TaskInput {
  const own = inputMessages(body.input);
  const messages: ChatMessage[] = [...(body.instructions ? [{ role: "system" as const, content: body.instructions }] : []), ...history, ...own];
  const stop = body.stop === null || body.stop === undefined ? undefined : typeof body.stop === "string" ? [body.stop] : body.stop.length > 0 ? body.stop : undefined;
  const tools = body.tools ?? [];
  const responses: StoredResponseRequest = {
    instructions: body.instructions ?? null,
    max_output_tokens: body.max_output_tokens ?? null,
    metadata: body.metadata ?? {},
    previous_response_id: body.previous_response_id ?? null,
    background: body.background === true,
    store: body.store !== false,
    service_tier: serviceTierOf(body.service_tier) ?? "default",
    parallel_tool_calls: body.parallel_tool_calls !== false,
    text: { format: body.text?.format ?? { type: "text" }, verbosity: body.text?.verbosity ?? "medium" },
    prompt_cache_key: body.prompt_cache_key ?? null,
    safety_identifier: body.safety_identifier ?? null,
    tools: tools.map((tool) => ({ ...tool, description: tool.description ?? null, parameters: tool.parameters ?? null, strict: tool.strict ?? true })),
    tool_choice: body.tool_choice ?? "auto",
    truncation: body.truncation ?? "disabled",
    user: body.user ?? null,
    input_messages: own.length,
    stream: body.stream === true,
  };
  return {
    endpoint: "response",
    model: body.model,
    deadlines: deadlinesOf(body),
    ...tierInput(body.service_tier),
    messages,
    configs: {
      temperature: body.temperature ?? undefined,
      top_p: body.top_p ?? undefined,
      stop,
      max_tokens: body.max_output_tokens ?? undefined,
      keep_pieces: true,
      passthrough: defined({
        response_format: responseFormatOf(body.text?.format),
        tools: tools.length > 0 ? tools.map((tool) => ({ type: "function", function: defined({ name: tool.name, description: tool.description, parameters: tool.parameters, strict: tool.strict }) })) : undefined,
        tool_choice: body.tool_choice === undefined ? undefined : typeof body.tool_choice === "string" ? body.tool_choice : { type: "function", function: { name: body.tool_choice.name } },
        parallel_tool_calls: tools.length > 0 ? (body.parallel_tool_calls ?? undefined) : undefined,
        user: body.user,
      }),
      ...(body.metadata ? { metadata: body.metadata } : {}),
      responses,
    } as TaskInput["configs"],
    fieldNames: { model: "model", maxTokens: "max_output_tokens", passthrough: { response_format: "text.format" } },
  };
}
