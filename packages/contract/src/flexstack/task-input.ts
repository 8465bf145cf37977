import { type TaskInput, deadlinesOf, serviceTierOf } from "@llmq/core";
import type { TextCompletionRequest } from "./requests";

/**
 * A Flexstack task body as a task: `POST /v1/ai/text_completion`'s body, or one request of a native
 * batch (`at` its place, e.g. `requests.3`, so errors name the item's fields). Batch items carry no
 * deadlines of their own: the batch's completion window applies.
 */
export function flexstackTaskInput(
  body: Pick<TextCompletionRequest, "messages" | "configs"> & Partial<Pick<TextCompletionRequest, "queue_ttl_seconds" | "timeout_seconds" | "service_tier">>,
  at?: string,
): TaskInput {
  const { model, ...configs } = body.configs;
  const field = (name: string) => (at ? `${at}.${name}` : name);
  return {
    endpoint: "task",
    model,
    messages: body.messages,
    configs,
    deadlines: deadlinesOf(body),
    ...tierOf(body.service_tier),
    fieldNames: { model: field("configs.model"), maxTokens: field("configs.max_tokens") },
  };
}

/** The tier asked for, as TaskInput's `tier` (absent when none was asked: the caller's default applies). */
function tierOf(requested: TextCompletionRequest["service_tier"]): Pick<TaskInput, "tier"> {
  const tier = serviceTierOf(requested);
  return tier ? { tier } : {};
}
