import { type OpenAIProviderConfig, ProviderError } from "@llmq/core";
import type { Dispatcher } from "undici";
import { isNetworkError, networkErrorToProviderError } from "./network-errors";
import { type ErrorContext, httpErrorToProviderError, upstreamError } from "./openai-errors";
import { chatCompletionAnswerEvents, chatCompletionEvents } from "./openai-stream";
import type { Provider, ProviderEvent, ProviderRequest } from "./provider";
import { responsesApiEvents } from "./responses-stream";
import { StallTimer, timedChunks } from "./stall-timer";
import { type UpstreamBody, readAnswerBody, readErrorBody, releaseBody, upstreamAgent } from "./upstream-http";

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

/** A whole answer's wait when the provider sets none: the OpenAI SDKs' own default. */
const DEFAULT_WHOLE_TIMEOUT_MS = 600_000;

/**
 * Streams chat completions from any OpenAI-compatible server (OpenAI, vLLM, Ollama, Scaleway); Responses
 * API tasks go to the upstream's own `/responses` when the provider declares it (`responses_api`). A chat
 * request nobody reads piece by piece (`whole`) is asked whole (`stream: false`), as its caller asked it,
 * unless the provider streams always (`stream_always`).
 */
export class OpenAICompatibleProvider implements Provider {
  readonly type = "openai";
  private readonly chat: Target;
  private readonly completions: Target;
  /** The upstream's Responses API, when the provider declares one. */
  private readonly responses: Target | null;
  private readonly headers: Record<string, string>;
  /** The same, accepting JSON: for whole answers. */
  private readonly wholeHeaders: Record<string, string>;
  private readonly streamAlways: boolean;
  private readonly timeoutMs: number;
  private readonly wholeTimeoutMs: number;
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
    this.wholeTimeoutMs = config.whole_timeout_ms ?? DEFAULT_WHOLE_TIMEOUT_MS;
    this.streamAlways = config.stream_always === true;
    this.context = { provider: config.name, apiKey: config.apiKey, baseUrl };
    // Built through Headers so that a bad configured header fails here, at start-up, not on every request.
    const headers = new Headers({ "content-type": "application/json", accept: "text/event-stream", "user-agent": "llmq" });
    if (config.apiKey) headers.set("authorization", `Bearer ${config.apiKey}`);
    // Configured headers come last so a provider can swap in its own auth scheme (e.g. Azure's api-key).
    for (const [name, value] of Object.entries(config.headers)) headers.set(name, value);
    this.headers = Object.fromEntries(headers);
    // A configured Accept stays what the operator said.
    const acceptConfigured = Object.keys(config.headers).some((name) => name.toLowerCase() === "accept");
    this.wholeHeaders = acceptConfigured ? this.headers : { ...this.headers, accept: "application/json" };
    this.agent = upstreamAgent(options.connections ?? null);
  }

  /** Posts the request (streamed, or whole: see the class) and yields its deltas; see Provider for the contract. */
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
    let whole = false;
    try {
      // A Responses API task on an upstream that has that API is passed through; anything else is a chat
      // (or legacy) completion.
      const passThrough = this.responses !== null && request.responses !== undefined && request.prompt === undefined;
      whole = request.whole === true && !this.streamAlways && !passThrough && request.prompt === undefined;
      // A whole answer comes after the whole generation: whole_timeout_ms bounds it all, to its last byte.
      timer.arm(whole ? this.wholeTimeoutMs : this.timeoutMs);
      const response = await this.agent.request({
        ...(passThrough ? this.responses! : request.prompt === undefined ? this.chat : this.completions),
        method: "POST",
        headers: whole ? this.wholeHeaders : this.headers,
        body: JSON.stringify(passThrough ? responsesRequestBody(request) : requestBody(request, !whole)),
        signal: controller.signal,
      });
      body = response.body;
      if (response.statusCode < 200 || response.statusCode > 299) {
        throw httpErrorToProviderError(this.context, response.statusCode, response.headers, await readErrorBody(body));
      }
      if (whole) {
        const text = await readAnswerBody(body);
        timer.disarm();
        if (text === null) throw upstreamError(this.context, "upstream_protocol", "sent an answer longer than any completion", { retryable: true });
        completed = true;
        yield* chatCompletionAnswerEvents(text, this.context);
        return;
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
      throw this.translate(error, signal, timer, whole);
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

  private translate(error: unknown, signal: AbortSignal, timer: StallTimer, whole: boolean): unknown {
    // The caller gave up: not an upstream failure, so hand back its own reason.
    if (signal.aborted) return signal.reason;
    if (timer.firedAfterMs !== null) {
      const what = whole ? `did not finish its answer within ${timer.firedAfterMs} ms` : `sent nothing for ${timer.firedAfterMs} ms`;
      return upstreamError(this.context, "upstream_timeout", what, { retryable: true, cause: error });
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
function requestBody(request: ProviderRequest, stream: boolean): Record<string, unknown> {
  const { params } = request;
  return {
    ...params.passthrough,
    model: request.model,
    ...(request.prompt === undefined ? { messages: request.messages } : { prompt: request.prompt }),
    stream,
    stream_options: stream ? { include_usage: true } : undefined,
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
