import { type TaskInput, deadlinesOf } from "@llmq/core";
import { tierInput } from "../shared/service-tier";
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
    ...tierInput(body.service_tier),
    fieldNames: { model: field("configs.model"), maxTokens: field("configs.max_tokens") },
  };
}
