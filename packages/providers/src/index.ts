export type { Provider, ProviderEvent, ProviderRequest } from "./provider";
export { OpenAICompatibleProvider } from "./openai-provider";
export { SimulatedProvider } from "./simulated-provider";
export { createProvider } from "./create-provider";
export { type UpstreamFailure, upstreamFailureOf } from "./failure-kind";
export { abortableSleep } from "./abortable-sleep";
