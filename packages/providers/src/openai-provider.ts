import { type OpenAIProviderConfig, ProviderError } from "@llmq/core";
import { type ErrorContext, httpErrorToProviderError, isNetworkError, networkErrorToProviderError, upstreamError } from "./openai-errors";
import { chatCompletionEvents } from "./openai-stream";
import type { Provider, ProviderEvent, ProviderRequest } from "./provider";
import { StallTimer, timedChunks } from "./stall-timer";

/** Streams chat completions from any OpenAI-compatible server (OpenAI, vLLM, Ollama, Scaleway). */
export class OpenAICompatibleProvider implements Provider {
  readonly type = "openai";
  private readonly baseUrl: string;
  private readonly headers: Record<string, string>;
  private readonly timeoutMs: number;
  private readonly idleTimeoutMs: number;
  private readonly context: ErrorContext;

  constructor(config: OpenAIProviderConfig) {
    this.baseUrl = config.base_url.replace(/\/+$/, "");
    this.timeoutMs = config.timeout_ms;
    this.idleTimeoutMs = config.idle_timeout_ms ?? config.timeout_ms;
    this.context = { provider: config.name, apiKey: config.apiKey, baseUrl: this.baseUrl };
    const headers = new Headers({ "content-type": "application/json", accept: "text/event-stream" });
    if (config.apiKey) headers.set("authorization", `Bearer ${config.apiKey}`);
    // Configured headers come last so a provider can swap in its own auth scheme (e.g. Azure's api-key).
    for (const [name, value] of Object.entries(config.headers)) headers.set(name, value);
    this.headers = Object.fromEntries(headers);
  }

  /** Posts the request with `stream: true` and yields its deltas; see Provider for the contract. */
  async *stream(request: ProviderRequest, signal: AbortSignal): AsyncGenerator<ProviderEvent> {
    signal.throwIfAborted();
    // Our own controller lets a stall and the caller's abort both cut the HTTP request.
    const controller = new AbortController();
    const timer = new StallTimer(() => controller.abort(new Error("upstream stalled")));
    const forwardAbort = (): void => controller.abort(signal.reason);
    signal.addEventListener("abort", forwardAbort, { once: true });
    const startedAt = Date.now();
    try {
      timer.arm(this.timeoutMs);
      const endpoint = request.prompt === undefined ? "/chat/completions" : "/completions";
      const response = await fetch(this.baseUrl + endpoint, {
        method: "POST",
        headers: this.headers,
        body: JSON.stringify(requestBody(request)),
        signal: controller.signal,
      });
      if (!response.ok) {
        throw httpErrorToProviderError(this.context, response.status, response.headers, await response.text());
      }
      timer.disarm();
      if (!response.body) {
        throw upstreamError(this.context, "upstream_protocol", "answered without a body", { retryable: true });
      }
      // timeout_ms bounds the wait for the first byte as a whole, headers included.
      const firstByteMs = Math.max(1, startedAt + this.timeoutMs - Date.now());
      yield* chatCompletionEvents(timedChunks(response.body, timer, firstByteMs, this.idleTimeoutMs), this.context);
    } catch (error) {
      throw this.translate(error, signal, timer);
    } finally {
      timer.disarm();
      signal.removeEventListener("abort", forwardAbort);
      // No-op after a complete response; otherwise closes the socket so the upstream stops generating.
      controller.abort();
    }
  }

  private translate(error: unknown, signal: AbortSignal, timer: StallTimer): unknown {
    // The caller gave up: not an upstream failure, so hand back its own reason.
    if (signal.aborted) return signal.reason;
    if (timer.firedAfterMs !== null) {
      return upstreamError(this.context, "upstream_timeout", `sent nothing for ${timer.firedAfterMs} ms`, { retryable: true, cause: error });
    }
    if (error instanceof ProviderError) return error;
    if (isNetworkError(error)) return networkErrorToProviderError(this.context, error);
    return error;
  }
}

// Undefined fields vanish in JSON.stringify, so unset parameters are simply not sent.
function requestBody(request: ProviderRequest): Record<string, unknown> {
  const { params } = request;
  return {
    ...params.passthrough,
    model: request.model,
    ...(request.prompt === undefined ? { messages: request.messages } : { prompt: request.prompt }),
    stream: true,
    stream_options: { include_usage: true },
    max_tokens: params.maxTokensIsCap ? undefined : params.maxTokens,
    temperature: params.temperature,
    top_p: params.topP,
    // Not in OpenAI's API; vLLM and others accept it as an extra field.
    top_k: params.topK,
    stop: params.stop && params.stop.length > 0 ? params.stop : undefined,
    seed: params.seed,
  };
}
