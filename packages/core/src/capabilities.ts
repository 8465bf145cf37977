import type { ModelConfig, ProviderConfig } from "./models-config";

/**
 * OpenAI request fields a provider type cannot honour, with the reason given to the caller.
 * OpenAI-compatible upstreams take every field (they answer for themselves); the simulated model
 * writes plain text and says so rather than silently ignoring a field.
 */
const UNSUPPORTED: Record<ProviderConfig["type"], (field: string, value: unknown) => string | null> = {
  openai: () => null,
  simulated: (field, value) => {
    switch (field) {
      case "tools":
      case "tool_choice":
      case "parallel_tool_calls":
        return "the simulated provider cannot call tools; use a model served by an OpenAI-compatible upstream";
      case "response_format":
        return (value as { type?: unknown })?.type === "text" ? null : "the simulated provider writes plain text only: no JSON mode or JSON schema";
      case "logit_bias":
        return "the simulated provider does not support logit_bias";
      case "presence_penalty":
      case "frequency_penalty":
        return value === 0 ? null : `the simulated provider does not support ${field}`;
      default:
        return null;
    }
  },
};

/** The first passthrough field `provider` cannot honour, with why; null when it can honour them all. */
export function unsupportedField(provider: ProviderConfig, passthrough: Readonly<Record<string, unknown>>): { field: string; reason: string } | null {
  for (const [field, value] of Object.entries(passthrough)) {
    if (value === undefined) continue;
    const reason = UNSUPPORTED[provider.type](field, value);
    if (reason) return { field, reason };
  }
  return null;
}

/**
 * A Responses API request's field that its model's upstream cannot take, with why; null when it takes
 * them all. An upstream that declares its own Responses API is sent that API's fields, which have no
 * stop sequences: `stop` is refused rather than dropped (others get it as chat completions' `stop`).
 */
export function unsupportedResponsesField(provider: ProviderConfig, configs: { stop?: readonly string[] }): { field: string; reason: string } | null {
  if (provider.type === "openai" && provider.responses_api === true && (configs.stop?.length ?? 0) > 0) {
    return { field: "stop", reason: "this model's upstream takes Responses API requests, which have no stop sequences" };
  }
  return null;
}

/** What of a request decides which models may serve it (a task as submitted, or as stored). */
export interface RequestNeeds {
  passthrough?: Readonly<Record<string, unknown>>;
  stop?: readonly string[];
  /** A Responses API request (its upstream may take that API's fields). */
  responses: boolean;
}

/**
 * The first field some upstream of `model` cannot honour, with why and which upstream; null when every
 * upstream takes the request. A task may run on any upstream of its model (failover), so each must take
 * it: submissions are refused on it, and a fallback model is skipped on it.
 */
export function unsupportedOnAny(model: Pick<ModelConfig, "upstreams">, needs: RequestNeeds): { field: string; reason: string; upstream: string } | null {
  for (const { name, provider } of model.upstreams) {
    const unsupported = unsupportedField(provider, needs.passthrough ?? {}) ?? (needs.responses ? unsupportedResponsesField(provider, { stop: needs.stop }) : null);
    if (unsupported) return { ...unsupported, upstream: name };
  }
  return null;
}

/**
 * Why `fallback` cannot serve a stored task of another model, or null when it can: a field one of its
 * upstreams cannot honour, or an explicit `max_tokens` above its cap (a cap the caller left to the model
 * is lowered to the fallback's own instead).
 */
export function fallbackRefusal(
  fallback: Pick<ModelConfig, "id" | "upstreams" | "maxTokens">,
  stored: { passthrough?: Readonly<Record<string, unknown>>; stop?: readonly string[]; responses?: unknown; max_tokens: number; max_tokens_is_cap?: boolean },
): string | null {
  if (stored.max_tokens > fallback.maxTokens && stored.max_tokens_is_cap !== true) return `max_tokens ${stored.max_tokens} is above ${fallback.id}'s ${fallback.maxTokens}`;
  const unsupported = unsupportedOnAny(fallback, { passthrough: stored.passthrough, stop: stored.stop, responses: stored.responses !== undefined });
  return unsupported ? `${unsupported.field}: ${unsupported.reason} (${fallback.id}, upstream ${unsupported.upstream})` : null;
}
