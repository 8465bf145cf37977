import { type OpenAIProviderConfig, ProviderError } from "@llmq/core";
import type { Dispatcher } from "undici";
import { isNetworkError, networkErrorToProviderError } from "./network-errors";
import { type ErrorContext, httpErrorToProviderError, upstreamError } from "./openai-errors";
import { chatCompletionEvents } from "./openai-stream";
import type { Provider, ProviderEvent, ProviderRequest } from "./provider";
import { responsesApiEvents } from "./responses-stream";
import { StallTimer, timedChunks } from "./stall-timer";
import { type UpstreamBody, readErrorBody, releaseBody, upstreamAgent } from "./upstream-http";

/** How a provider instance talks to its upstream. */
export interface OpenAIProviderOptions {
  /**
   * Most sockets open to the upstream at once (keep-alive ones included); the worker gives the model's
   * concurrency, which already bounds its requests in flight. Default: one per request in flight.
   */
  connections?: number;
}

/** Where a request goes, split as undici wants it. */
interface Target {
  origin: string;
  path: string;
}

/**
 * Streams chat completions from any OpenAI-compatible server (OpenAI, vLLM, Ollama, Scaleway); Responses
 * API tasks go to the upstream's own `/responses` when the provider declares it (`responses_api`).
 */
export class OpenAICompatibleProvider implements Provider {
  readonly type = "openai";
  private readonly chat: Target;
  private readonly completions: Target;
  /** The upstream's Responses API, when the provider declares one. */
  private readonly responses: Target | null;
  private readonly headers: Record<string, string>;
  private readonly timeoutMs: number;
  private readonly idleTimeoutMs: number;
  private readonly context: ErrorContext;
  private readonly agent: Dispatcher;
  private closing: Promise<void> | undefined;

  constructor(config: OpenAIProviderConfig, options: OpenAIProviderOptions = {}) {
    const baseUrl = config.base_url.replace(/\/+$/, "");
    this.chat = target(`${baseUrl}/chat/completions`);
    this.completions = target(`${baseUrl}/completions`);
    this.responses = config.responses_api === true ? target(`${baseUrl}/responses`) : null;
    this.timeoutMs = config.timeout_ms;
    this.idleTimeoutMs = config.idle_timeout_ms ?? config.timeout_ms;
    this.context = { provider: config.name, apiKey: config.apiKey, baseUrl };
    // Built through Headers so that a bad configured header fails here, at start-up, not on every request.
    const headers = new Headers({ "content-type": "application/json", accept: "text/event-stream", "user-agent": "llmq" });
    if (config.apiKey) headers.set("authorization", `Bearer ${config.apiKey}`);
    // Configured headers come last so a provider can swap in its own auth scheme (e.g. Azure's api-key).
    for (const [name, value] of Object.entries(config.headers)) headers.set(name, value);
    this.headers = Object.fromEntries(headers);
    this.agent = upstreamAgent(options.connections ?? null);
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
    let body: UpstreamBody | null = null;
    let completed = false;
    try {
      timer.arm(this.timeoutMs);
      // A Responses API task on an upstream that has that API is passed through; anything else is a chat
      // (or legacy) completion.
      const passThrough = this.responses !== null && request.responses !== undefined && request.prompt === undefined;
      const response = await this.agent.request({
        ...(passThrough ? this.responses! : request.prompt === undefined ? this.chat : this.completions),
        method: "POST",
        headers: this.headers,
        body: JSON.stringify(passThrough ? responsesRequestBody(request) : requestBody(request)),
        signal: controller.signal,
      });
      body = response.body;
      if (response.statusCode < 200 || response.statusCode > 299) {
        throw httpErrorToProviderError(this.context, response.statusCode, response.headers, await readErrorBody(body));
      }
      timer.disarm();
      // timeout_ms bounds the wait for the first byte as a whole, headers included.
      const firstByteMs = Math.max(1, startedAt + this.timeoutMs - Date.now());
      // Not destroyed on return: releaseBody decides whether the socket is closed or reused.
      const chunks = body.iterator({ destroyOnReturn: false }) as AsyncIterable<Uint8Array>;
      const timed = timedChunks(chunks, timer, firstByteMs, this.idleTimeoutMs);
      yield* passThrough ? responsesApiEvents(timed, this.context) : chatCompletionEvents(timed, this.context);
      completed = true;
    } catch (error) {
      throw this.translate(error, signal, timer);
    } finally {
      timer.disarm();
      signal.removeEventListener("abort", forwardAbort);
      // A complete response gives its socket back to the pool; otherwise the socket is closed so the
      // upstream stops generating (the consumer stopped reading, a stall, an error).
      if (body) await releaseBody(body, completed);
    }
  }

  /** Closes the provider's connections to its upstream (after the requests in flight end). */
  close(): Promise<void> {
    this.closing ??= this.agent.close();
    return this.closing;
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

function target(url: string): Target {
  const { origin, pathname, search } = new URL(url);
  return { origin, path: pathname + search };
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

/** A Responses API task for the upstream's own `/responses`: its fields as the caller sent them, our sampling settings. */
function responsesRequestBody(request: ProviderRequest): Record<string, unknown> {
  const { params } = request;
  return {
    ...request.responses,
    model: request.model,
    stream: true,
    max_output_tokens: params.maxTokensIsCap ? undefined : params.maxTokens,
    temperature: params.temperature,
    top_p: params.topP,
    // The task is the record (the whole conversation is sent each time): the upstream need not keep one.
    store: false,
  };
}
