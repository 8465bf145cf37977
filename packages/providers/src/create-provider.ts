import { assertNever, type ProviderConfig } from "@llmq/core";
import { OpenAICompatibleProvider } from "./openai-provider";
import type { Provider } from "./provider";
import { SimulatedProvider } from "./simulated-provider";

/** Builds the provider a models-file entry describes. */
export function createProvider(config: ProviderConfig): Provider {
  switch (config.type) {
    case "openai":
      return new OpenAICompatibleProvider(config);
    case "simulated":
      return new SimulatedProvider(config);
    default:
      return assertNever(config);
  }
}
