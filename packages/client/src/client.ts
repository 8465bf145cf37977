import type {
  CreateNativeBatchInput,
  CreatedNativeBatchData,
  HistoryPage,
  HistoryQuery,
  HistoryRow,
  NativeBatch,
  NativeBatchPage,
  NativeBatchQuery,
  NativeBatchResultLine,
  TaskEnvelopeData,
  TaskStreamEvent,
  TextCompletionInput,
} from "@llmq/contract";
import { LlmqApiError, LlmqConnectionError, LlmqError, LlmqStreamEndedError, apiErrorOf } from "./errors";
import { readSse, reconnectDelayMs, sleep } from "./sse";

/** A string, or a function giving the bearer token for the next request (e.g. refreshing it first). */
export type Credential = string | (() => string | Promise<string>);

export interface LlmqClientOptions {
  /** Where the API is, e.g. `http://localhost:8000`; "" (the default) for the page's own origin in a browser. */
  baseUrl?: string;
  /** An API key (`llmq_...`) or an access token, or a function giving one per request. */
  apiKey: Credential;
  /** The fetch to use (default: the global one). */
  fetch?: typeof fetch;
  /** Called on any 401 answer (before its error is thrown): a browser session may end itself there. */
  onUnauthorized?: () => void;
  /** How many times in a row a dropped event stream is reopened before giving up (default 10). */
  maxReconnects?: number;
}

export interface RequestOptions {
  signal?: AbortSignal;
  /** Sent as `Idempotency-Key`: a retried submission with the same key creates nothing new. */
  idempotencyKey?: string;
}

/** A task event as the stream sends it, with the event's id (what `Last-Event-ID` resumes after). */
export type TaskEvent = TaskStreamEvent & { id: string | undefined };
/** The events a stream yields: `status`, `token` and, last, `result` (an `error` event is thrown instead). */
export type TaskProgressEvent = Exclude<TaskEvent, { event: "error" }>;

const FINAL = new Set(["COMPLETED", "FAILED", "CANCELLED", "EXPIRED"]);
const SETTLED_BATCH = new Set(["completed", "failed", "expired", "cancelled"]);

/** Whether a task status is final (the task will not change again). */
export function isFinalStatus(status: string): boolean {
  return FINAL.has(status);
}

/** Whether a batch status is final. */
export function isSettledBatchStatus(status: string): boolean {
  return SETTLED_BATCH.has(status);
}

interface Envelope<T> {
  data: { is_success: boolean; data: T } | null;
}

/** A typed client for llmq's task API (`/v1/ai/...`). See docs/client.md. */
export class LlmqClient {
  private readonly baseUrl: string;
  private readonly fetchImpl: typeof fetch;

  constructor(private readonly options: LlmqClientOptions) {
    this.baseUrl = (options.baseUrl ?? "").replace(/\/+$/, "");
    // Bound: a browser's fetch throws "Illegal invocation" when called as a method of another object.
    this.fetchImpl = options.fetch ?? globalThis.fetch.bind(globalThis);
  }

  /**
   * An authenticated request to any route (`path` from the API's root, e.g. `/v1/users/me`). Answers the
   * response whatever its status (only a network failure throws: LlmqConnectionError); a 401 calls
   * `onUnauthorized`.
   */
  async fetch(path: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    const credential = this.options.apiKey;
    headers.set("authorization", `Bearer ${typeof credential === "function" ? await credential() : credential}`);
    let response: Response;
    try {
      response = await this.fetchImpl(this.baseUrl + path, { ...init, headers });
    } catch (error) {
      if (init.signal?.aborted) throw error;
      throw new LlmqConnectionError(`cannot reach ${this.baseUrl || "the API"}: ${describeNetworkError(error)}`, { cause: error });
    }
    if (response.status === 401) this.options.onUnauthorized?.();
    return response;
  }

  /** Like `fetch`, but a non-2xx answer throws its typed error (LlmqApiError and subclasses). */
  async request(path: string, init: RequestInit = {}): Promise<Response> {
    const response = await this.fetch(path, init);
    if (!response.ok) throw await errorOf(response);
    return response;
  }

  /** A JSON request whose envelope's `data.data` is answered. */
  async data<T>(path: string, init: RequestInit = {}, body?: unknown): Promise<T> {
    const response = await this.request(path, withJson(init, body));
    const envelope = (await response.json()) as Envelope<T>;
    if (!envelope.data) throw new LlmqError(`${path} answered ${response.status} without data`);
    return envelope.data.data;
  }

  // Tasks ----------------------------------------------------------------------------------------------

  /**
   * Submits a task and waits for its result, holding the request open up to `wait` seconds (the server's
   * default and cap apply). Answers the task as it is then: COMPLETED (or FAILED...), or still PENDING or
   * RUNNING if the wait ran out (then `wait(task_id)`).
   */
  submit(request: TextCompletionInput, options: RequestOptions & { wait?: number } = {}): Promise<TaskEnvelopeData> {
    const query = options.wait === undefined ? "" : `?wait=${options.wait}`;
    return this.envelope(`/v1/ai/text_completion${query}`, { method: "POST", signal: options.signal, headers: idempotency(options) }, request);
  }

  /** Submits a task and answers at once (202): the task, PENDING. Follow it with `wait`, `poll` or `events`. */
  submitAsync(request: TextCompletionInput, options: RequestOptions = {}): Promise<TaskEnvelopeData> {
    return this.envelope("/v1/ai/text_completion?async=true", { method: "POST", signal: options.signal, headers: idempotency(options) }, request);
  }

  /** The task now (`GET /v1/ai/tasks/{id}`): one poll. */
  task(taskId: string, options: { signal?: AbortSignal } = {}): Promise<TaskEnvelopeData> {
    return this.envelope(`/v1/ai/tasks/${encodeURIComponent(taskId)}`, { signal: options.signal });
  }

  /** Polls the task every `intervalMs` (default 1 s) until it is final, and answers it. */
  async poll(taskId: string, options: { intervalMs?: number; signal?: AbortSignal } = {}): Promise<TaskEnvelopeData> {
    for (;;) {
      const task = await this.task(taskId, options);
      if (isFinalStatus(task.data.status) || options.signal?.aborted) return task;
      await sleep(options.intervalMs ?? 1_000, options.signal);
    }
  }

  /** Waits for the task to be final by following its events (one connection, resumed if it drops), and answers it. */
  async wait(taskId: string, options: { signal?: AbortSignal } = {}): Promise<TaskEnvelopeData> {
    for await (const event of this.events(taskId, options)) if (event.event === "result") return event.data.data;
    // Aborted before the result.
    return this.task(taskId);
  }

  /**
   * The task's events as they happen (`status`, `token`, then `result`), replayed from the start or after
   * `lastEventId`. A dropped connection is reopened with `Last-Event-ID`, so nothing is missed or repeated.
   * Ends after `result`; an `error` event (the credential ended mid-stream) throws LlmqStreamEndedError.
   */
  async *events(taskId: string, options: { lastEventId?: string; signal?: AbortSignal } = {}): AsyncGenerator<TaskProgressEvent> {
    const open = (lastEventId: string | undefined) => this.openEvents(taskId, lastEventId, options.signal);
    yield* this.follow(taskId, open, options.lastEventId, options.signal);
  }

  /** Opens the task's event stream, after `lastEventId` when given. */
  private openEvents(taskId: string, lastEventId: string | undefined, signal: AbortSignal | undefined): Promise<Response> {
    return this.fetch(`/v1/ai/tasks/${encodeURIComponent(taskId)}/events`, {
      headers: { accept: "text/event-stream", ...(lastEventId ? { "last-event-id": lastEventId } : {}) },
      signal,
    });
  }

  /**
   * Submits a task and streams its events (`?stream=true`); if the connection drops, follows the task's
   * events from where it stopped. Ends after `result`.
   */
  async *stream(request: TextCompletionInput, options: RequestOptions = {}): AsyncGenerator<TaskProgressEvent> {
    let taskId: string | null = null;
    const open = async (lastEventId: string | undefined) => {
      if (taskId === null) {
        const response = await this.fetch("/v1/ai/text_completion?stream=true", withJson({ method: "POST", signal: options.signal, headers: { accept: "text/event-stream", ...idempotency(options) } }, request));
        taskId = response.headers.get("x-task-id");
        return response;
      }
      return this.openEvents(taskId, lastEventId, options.signal);
    };
    yield* this.follow(() => taskId, open, undefined, options.signal);
  }

  /** Cancels a pending or running task; answers it (CANCELLED, or as it ended if it was already final). */
  cancel(taskId: string): Promise<TaskEnvelopeData> {
    return this.envelope(`/v1/ai/tasks/${encodeURIComponent(taskId)}/cancel`, { method: "POST" });
  }

  /** Runs a finished task again, as a new task; answers the new task. */
  retry(taskId: string): Promise<TaskEnvelopeData> {
    return this.envelope(`/v1/ai/tasks/${encodeURIComponent(taskId)}/retry`, { method: "POST" });
  }

  /** One page of task history (newest first); `next_cursor` gives the next. */
  history(query: HistoryQuery = {}, options: { signal?: AbortSignal } = {}): Promise<HistoryPage> {
    return this.data(`/v1/ai/tasks${queryString(query)}`, { signal: options.signal });
  }

  /** Every task matching `query`, newest first, page after page as the loop asks for them. */
  async *historyAll(query: Omit<HistoryQuery, "cursor"> = {}, options: { signal?: AbortSignal } = {}): AsyncGenerator<HistoryRow> {
    for (let cursor: string | undefined; ; ) {
      const page = await this.history({ ...query, ...(cursor ? { cursor } : {}) }, options);
      yield* page.tasks;
      if (!page.has_more || !page.next_cursor) return;
      cursor = page.next_cursor;
    }
  }

  // Batches --------------------------------------------------------------------------------------------

  /** Creates a native batch (`POST /v1/ai/batches`): its id and one task id per request, in order. */
  createBatch(batch: CreateNativeBatchInput, options: RequestOptions = {}): Promise<CreatedNativeBatchData> {
    return this.data("/v1/ai/batches", { method: "POST", signal: options.signal, headers: idempotency(options) }, batch);
  }

  /** A batch of either dialect: status, counts per task status, percent. */
  batch(batchId: string, options: { signal?: AbortSignal } = {}): Promise<NativeBatch> {
    return this.data(`/v1/ai/batches/${encodeURIComponent(batchId)}`, { signal: options.signal });
  }

  /** One page of the caller's batches, both dialects (each has `dialect`), newest first; `last_id` is the next `after`. */
  batches(query: NativeBatchQuery = {}, options: { signal?: AbortSignal } = {}): Promise<NativeBatchPage> {
    return this.data(`/v1/ai/batches${queryString(query)}`, { signal: options.signal });
  }

  /** Every batch of the caller, newest first, page after page. */
  async *batchesAll(query: Omit<NativeBatchQuery, "after"> = {}, options: { signal?: AbortSignal } = {}): AsyncGenerator<NativeBatch> {
    for (let after: string | undefined; ; ) {
      const page = await this.batches({ ...query, ...(after ? { after } : {}) }, options);
      yield* page.batches;
      if (!page.has_more || !page.last_id) return;
      after = page.last_id;
    }
  }

  /** The batch every `intervalMs` (default 2 s) until it has ended: yields each state, the final one last. */
  async *batchProgress(batchId: string, options: { intervalMs?: number; signal?: AbortSignal } = {}): AsyncGenerator<NativeBatch> {
    for (;;) {
      const batch = await this.batch(batchId, options);
      yield batch;
      if (isSettledBatchStatus(batch.status) || options.signal?.aborted) return;
      await sleep(options.intervalMs ?? 2_000, options.signal);
    }
  }

  /** Waits until the batch has ended, and answers it. */
  async waitForBatch(batchId: string, options: { intervalMs?: number; signal?: AbortSignal } = {}): Promise<NativeBatch> {
    let last: NativeBatch | undefined;
    for await (const batch of this.batchProgress(batchId, options)) last = batch;
    return last!;
  }

  /** The batch's results so far, one finished task each, in request order, read as the server streams them. */
  async *batchResults(batchId: string, options: { signal?: AbortSignal } = {}): AsyncGenerator<NativeBatchResultLine> {
    const response = await this.request(`/v1/ai/batches/${encodeURIComponent(batchId)}/results`, { signal: options.signal });
    if (!response.body) return;
    const decoder = new TextDecoder();
    let buffered = "";
    const reader = response.body.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        buffered += done ? decoder.decode() : decoder.decode(value, { stream: true });
        const lines = buffered.split("\n");
        buffered = done ? "" : lines.pop()!;
        for (const line of lines) if (line.trim()) yield JSON.parse(line) as NativeBatchResultLine;
        if (done) return;
      }
    } finally {
      await reader.cancel().catch(() => undefined);
      reader.releaseLock();
    }
  }

  /** Cancels a batch: queued tasks never run, running ones stop, finished ones are kept. */
  cancelBatch(batchId: string): Promise<NativeBatch> {
    return this.data(`/v1/ai/batches/${encodeURIComponent(batchId)}/cancel`, { method: "POST" });
  }

  // ----------------------------------------------------------------------------------------------------

  private async envelope(path: string, init: RequestInit, body?: unknown): Promise<TaskEnvelopeData> {
    const response = await this.request(path, withJson(init, body));
    return ((await response.json()) as { data: TaskEnvelopeData }).data;
  }

  /** Reads a task stream, reopening it after the last event id when it drops, until `result`. */
  private async *follow(
    taskId: string | (() => string | null),
    open: (lastEventId: string | undefined) => Promise<Response>,
    lastEventId: string | undefined,
    signal: AbortSignal | undefined,
  ): AsyncGenerator<TaskProgressEvent> {
    const idOf = () => (typeof taskId === "function" ? taskId() : taskId);
    let lastId = lastEventId;
    let failures = 0;
    for (;;) {
      let why: unknown = null;
      try {
        const response = await open(lastId);
        // 5xx (a proxy between restarts, an API process at its stream limit): try again; 4xx: the answer.
        if (!response.ok && response.status < 500) throw await errorOf(response);
        if (!response.ok || !response.body) {
          why = await errorOf(response);
        } else {
          for await (const message of readSse(response.body, signal)) {
            if (message.id) lastId = message.id;
            const event = { event: message.event ?? "message", data: JSON.parse(message.data), id: message.id } as TaskEvent;
            if (event.event === "error") {
              const first = event.data.errors[0];
              throw new LlmqStreamEndedError(idOf(), first?.code ?? "stream_ended", first?.message ?? "The server ended the stream.");
            }
            failures = 0;
            yield event;
            if (event.event === "result") return;
          }
          if (signal?.aborted) return;
          why = new LlmqConnectionError("the event stream ended before the task's result");
        }
      } catch (error) {
        if (signal?.aborted) return;
        if (!(error instanceof LlmqConnectionError) && !isNetworkError(error)) throw error;
        why = error;
      }
      // A drop: a submission that never got its task id cannot be resumed (nothing to follow).
      if (idOf() === null || failures >= (this.options.maxReconnects ?? 10)) throw why instanceof Error ? why : new LlmqConnectionError(String(why));
      await sleep(reconnectDelayMs(failures), signal);
      failures += 1;
      if (signal?.aborted) return;
    }
  }
}

async function errorOf(response: Response): Promise<LlmqApiError> {
  const body = await response.json().catch(() => null);
  return apiErrorOf(response.status, body, response.headers.get("retry-after"), response.statusText);
}

function withJson(init: RequestInit, body: unknown): RequestInit {
  if (body === undefined) return init;
  const headers = new Headers(init.headers);
  headers.set("content-type", "application/json");
  return { ...init, headers, body: JSON.stringify(body) };
}

function idempotency(options: RequestOptions): Record<string, string> {
  return options.idempotencyKey ? { "idempotency-key": options.idempotencyKey } : {};
}

function queryString(query: Record<string, string | number | boolean | undefined | null>): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) if (value !== undefined && value !== null && value !== "") params.set(key, String(value));
  const text = params.toString();
  return text ? `?${text}` : "";
}

/**
 * A body read that failed mid-stream (reset, socket closed: fetch's TypeError "terminated"), worth
 * reopening, unlike a bug. Duck-typed: fetch's errors come from another realm under test runners' VMs.
 */
function isNetworkError(error: unknown): boolean {
  const { name, message, cause } = (error ?? {}) as { name?: unknown; message?: unknown; cause?: unknown };
  return name === "TypeError" || /terminated|socket|ECONNRESET|network/i.test(`${String(message)} ${String(cause)}`);
}

function describeNetworkError(error: unknown): string {
  const cause = (error as { cause?: unknown } | null)?.cause ?? error;
  const code = (cause as { code?: unknown } | null)?.code;
  const message = (cause as { message?: unknown } | null)?.message;
  const text = typeof message === "string" ? message : String(cause);
  return typeof code === "string" && !text.includes(code) ? `${code} ${text}` : text;
}
