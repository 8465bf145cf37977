import { type ChatMessage, type TaskInput, deadlinesOf } from "@llmq/core";
import { tierInput } from "../shared/service-tier";
import type { ChatCompletionRequest, CompletionRequest } from "./requests";

type Content = ChatCompletionRequest["messages"][number]["content"];

/** Message content as text: parts joined (the models read text only). */
function contentText(content: Content): string | null {
  if (content === null || content === undefined) return null;
  if (typeof content === "string") return content;
  return content.map((part) => (part.type === "text" ? part.text : part.refusal)).join("");
}

/** Drops null and undefined, so only what the caller set reaches the upstream. */
function defined(fields: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== null && value !== undefined));
}

function stopList(stop: string | string[] | null | undefined): string[] | undefined {
  if (stop === null || stop === undefined) return undefined;
  return typeof stop === "string" ? [stop] : stop.length > 0 ? stop : undefined;
}

/** Fields both endpoints share, as a task's configs. */
function samplingConfigs(body: ChatCompletionRequest | CompletionRequest) {
  return {
    temperature: body.temperature ?? undefined,
    top_p: body.top_p ?? undefined,
    top_k: body.top_k,
    stop: stopList(body.stop),
    seed: body.seed ?? undefined,
    n: body.n ?? undefined,
  };
}

/**
 * A chat completion request as a task: messages as text, OpenAI-only fields passed to the upstream.
 * `wholeAnswer`: its caller reads only the finished completion (a waited `stream: false` request, a batch
 * line), so the worker may ask the upstream for it whole (StoredConfigs.whole_answer).
 */
export function chatTaskInput(body: ChatCompletionRequest, options: { wholeAnswer?: boolean } = {}): TaskInput {
  const messages: ChatMessage[] = body.messages.map((message) => ({
    role: message.role,
    content: contentText(message.content),
    ...("name" in message && message.name ? { name: message.name } : {}),
    ...("tool_call_id" in message ? { tool_call_id: message.tool_call_id } : {}),
    ...("tool_calls" in message && message.tool_calls ? { tool_calls: message.tool_calls } : {}),
  }));
  const maxTokensField = body.max_completion_tokens != null ? "max_completion_tokens" : "max_tokens";
  return {
    endpoint: "chat.completion",
    model: body.model,
    deadlines: deadlinesOf(body),
    ...tierInput(body.service_tier),
    messages,
    configs: {
      ...samplingConfigs(body),
      max_tokens: body.max_completion_tokens ?? body.max_tokens ?? undefined,
      passthrough: defined({
        presence_penalty: body.presence_penalty,
        frequency_penalty: body.frequency_penalty,
        logit_bias: body.logit_bias,
        response_format: body.response_format,
        tools: body.tools,
        tool_choice: body.tool_choice,
        parallel_tool_calls: body.parallel_tool_calls,
        user: body.user,
      }),
      ...(body.metadata ? { metadata: body.metadata } : {}),
      ...(options.wholeAnswer === true && body.stream !== true ? { whole_answer: true } : {}),
    },
    fieldNames: { model: "model", maxTokens: maxTokensField },
  };
}

/** OpenAI's default for legacy completions. */
const LEGACY_DEFAULT_MAX_TOKENS = 16;

/** A legacy completion request as a task: one input per prompt. */
export function completionTaskInput(body: CompletionRequest): TaskInput {
  const prompts = typeof body.prompt === "string" ? [body.prompt] : body.prompt;
  return {
    endpoint: "text_completion",
    model: body.model,
    deadlines: deadlinesOf(body),
    ...tierInput(body.service_tier),
    messages: prompts.map((prompt) => ({ role: "user", content: prompt })),
    configs: {
      ...samplingConfigs(body),
      max_tokens: body.max_tokens ?? LEGACY_DEFAULT_MAX_TOKENS,
      prompts,
      passthrough: defined({
        presence_penalty: body.presence_penalty,
        frequency_penalty: body.frequency_penalty,
        logit_bias: body.logit_bias,
        user: body.user,
      }),
      ...(body.echo ? { echo: true } : {}),
    },
    fieldNames: { model: "model", maxTokens: "max_tokens" },
  };
}
