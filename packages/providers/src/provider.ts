import type { ChatMessage, FinishReason, GenerationParams, Usage } from "@llmq/core";

/** What a worker asks a provider to generate. */
export interface ProviderRequest {
  /** The model name the upstream knows (models file `upstream_model`). */
  model: string;
  messages: ChatMessage[];
  params: GenerationParams;
}

/** One step of a streamed generation. */
export type ProviderEvent =
  | { type: "delta"; text: string }
  | { type: "done"; finishReason: FinishReason; usage: Usage | null };

/**
 * A model backend. `stream` yields text deltas then exactly one `done`; it throws `ProviderError`
 * (from @llmq/core) on failure and stops promptly, releasing the upstream request, when `signal` aborts.
 */
export interface Provider {
  readonly type: string;
  stream(request: ProviderRequest, signal: AbortSignal): AsyncIterable<ProviderEvent>;
}
