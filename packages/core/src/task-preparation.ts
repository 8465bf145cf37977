import { unsupportedOnAny } from "./capabilities";
import { ModelNotFoundError, ValidationError } from "./errors";
import type { ChatMessage } from "./generation";
import type { ModelConfig, ModelsConfig } from "./models-config";
import type { ServiceTier } from "./service-tier";
import type { TaskDeadlines } from "./task-deadlines";
import type { StoredConfigs } from "./task-request";

/** The APIs a task can come through (`response`: OpenAI's Responses API). */
export type TaskEndpoint = "task" | "chat.completion" | "text_completion" | "response";

/** A task as a route (or a batch line) hands it over, whichever dialect it speaks. */
export interface TaskInput {
  endpoint: TaskEndpoint;
  model: string;
  messages: ChatMessage[];
  /** Without `max_tokens` the model's own cap applies. */
  configs: Omit<StoredConfigs, "model" | "max_tokens" | "n"> & { max_tokens?: number; n?: number };
  /**
   * How the caller's dialect names these fields, for errors; `passthrough` names the passthrough fields
   * that it calls otherwise (Responses API: `response_format` is `text.format`).
   */
  fieldNames: { model: string; maxTokens: string; passthrough?: Readonly<Record<string, string>> };
  deadlines?: TaskDeadlines;
  /** The tier the caller asked for; absent: `default` for an interactive task, `flex` for a batch item. */
  tier?: ServiceTier;
}

/** A task checked against the models it may run on, ready to store. */
export interface PreparedTask {
  endpoint: TaskEndpoint;
  model: ModelConfig;
  messages: ChatMessage[];
  configs: StoredConfigs;
  /** As TaskInput's. */
  tier?: ServiceTier;
}

/**
 * Checks the model exists, the token budget fits it, and its provider can honour every field;
 * throws ModelNotFoundError or ValidationError (with the caller's field names) otherwise.
 */
export function prepareTask(models: ModelsConfig, input: TaskInput): PreparedTask {
  const model = models.byId.get(input.model);
  if (!model) throw new ModelNotFoundError(input.model, [...models.byId.keys()], input.fieldNames.model);
  const maxTokens = input.configs.max_tokens ?? model.maxTokens;
  if (maxTokens > model.maxTokens) {
    throw new ValidationError(`${input.fieldNames.maxTokens}: at most ${model.maxTokens} for model ${model.id}`, { param: input.fieldNames.maxTokens });
  }
  const unsupported = unsupportedOnAny(model, { passthrough: input.configs.passthrough, stop: input.configs.stop, responses: input.endpoint === "response" });
  if (unsupported) {
    const field = input.fieldNames.passthrough?.[unsupported.field] ?? unsupported.field;
    const where = model.upstreams.length > 1 ? `model ${model.id}, upstream ${unsupported.upstream}` : `model ${model.id}`;
    throw new ValidationError(`${field}: ${unsupported.reason} (${where})`, { param: field, code: "unsupported_parameter" });
  }
  const configs: StoredConfigs = {
    ...input.configs,
    model: model.id,
    max_tokens: maxTokens,
    ...(input.configs.max_tokens === undefined ? { max_tokens_is_cap: true } : {}),
    n: input.configs.n ?? 1,
  };
  return { endpoint: input.endpoint, model, messages: input.messages, configs, ...(input.tier ? { tier: input.tier } : {}) };
}
