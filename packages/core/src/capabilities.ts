import type { ProviderConfig } from "./models-config";

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
