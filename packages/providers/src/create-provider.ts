import { assertNever, type ProviderConfig } from "@llmq/core";
import { OpenAICompatibleProvider, type OpenAIProviderOptions } from "./openai-provider";
import type { Provider } from "./provider";
import { SimulatedProvider } from "./simulated-provider";

/** Builds the provider a models-file entry describes; `options` apply to upstream (openai) providers. */
export function createProvider(config: ProviderConfig, options: OpenAIProviderOptions = {}): Provider {
  switch (config.type) {
    case "openai":
      return new OpenAICompatibleProvider(config, options);
    case "simulated":
      return new SimulatedProvider(config);
    default:
      return assertNever(config);
  }
}
