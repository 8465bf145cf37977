import type { ChatMessage, FinishReason, GenerationParams, Usage } from "@llmq/core";

/** What a worker asks a provider to generate. */
export interface ProviderRequest {
  /** The model name the upstream knows (models file `upstream_model`). */
  model: string;
  messages: ChatMessage[];
  /** Set for legacy completions: the raw prompt, sent to an upstream's `/completions` (messages then hold it as one user message). */
  prompt?: string;
  /** Which of the task's choices this is (OpenAI's `n`): the simulated model writes a different text for each. */
  choice?: number;
  params: GenerationParams;
  /**
   * Set for OpenAI Responses API tasks: the request as that API's own fields (instructions, input items,
   * tools, text, tool_choice). A provider whose upstream declares the API (`responses_api`) sends it there;
   * others use `messages` and `params`, which say the same in chat completions' terms.
   */
  responses?: Record<string, unknown>;
  /**
   * Nobody reads this request's pieces as they come (StoredConfigs.whole_answer): a provider may ask its
   * upstream for the whole answer at once and yield it as one delta. The events' contract is the same.
   */
  whole?: boolean;
}

/** One step of a streamed generation. */
export type ProviderEvent =
  /** `tokens`: how many tokens the text holds when it is more than one (a whole answer's: its usage, else an estimate). */
  | { type: "delta"; text: string; tokens?: number }
  /** A piece of a tool call: `index` names the call; id and name come first, arguments in pieces. */
  | { type: "tool_call"; index: number; id?: string; name?: string; arguments?: string }
  | { type: "done"; finishReason: FinishReason; usage: Usage | null };

/**
 * A model backend. `stream` yields text deltas then exactly one `done`; it throws `ProviderError`
 * (from @llmq/core) on failure and stops promptly, releasing the upstream request, when `signal` aborts.
 */
export interface Provider {
  readonly type: string;
  stream(request: ProviderRequest, signal: AbortSignal): AsyncIterable<ProviderEvent>;
  /** Lets go of what the provider holds open (its upstream connections); called once, at shutdown. */
  close?(): Promise<void>;
}
