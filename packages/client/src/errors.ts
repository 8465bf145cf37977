import type { ErrorEnvelope } from "@llmq/contract";

/** Anything this client throws on purpose. */
export class LlmqError extends Error {
  override name = "LlmqError";
}

/** The service could not be reached (DNS, refused connection, reset): no HTTP answer at all. */
export class LlmqConnectionError extends LlmqError {
  override name = "LlmqConnectionError";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** A non-2xx answer, with the envelope's first error: its `code` (stable), `param` (the field) and message. */
export class LlmqApiError extends LlmqError {
  override name = "LlmqApiError";
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly param: string | null = null,
    /** Seconds the server asked to wait before trying again (Retry-After), if it said. */
    readonly retryAfterSeconds: number | null = null,
  ) {
    super(message);
  }
}

/** 401 (unknown, revoked or expired credential) and 403 (the credential may not do this). */
export class LlmqAuthError extends LlmqApiError {
  override name = "LlmqAuthError";
}
/** 404: no such task or batch, or one of another tenant (the service does not say which). */
export class LlmqNotFoundError extends LlmqApiError {
  override name = "LlmqNotFoundError";
}
/** 409: e.g. `batch_not_cancellable`, `idempotency_request_in_progress`. */
export class LlmqConflictError extends LlmqApiError {
  override name = "LlmqConflictError";
}
/** 429: a rate, token or concurrency limit; `retryAfterSeconds` says when to try again. */
export class LlmqRateLimitError extends LlmqApiError {
  override name = "LlmqRateLimitError";
}

/** A task stream the server ended with an `error` event (its credential was revoked or expired mid-stream). */
export class LlmqStreamEndedError extends LlmqError {
  override name = "LlmqStreamEndedError";
  constructor(
    readonly taskId: string | null,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

type ErrorBody = Partial<ErrorEnvelope> & { error?: { code?: string | null; message?: string; param?: string | null } | string; error_description?: string };

/** The typed error an envelope's first error stands for (any dialect's body is read, should one come). */
export function apiErrorOf(status: number, body: unknown, retryAfter: string | null, statusText = ""): LlmqApiError {
  const parsed = (typeof body === "object" && body !== null ? body : {}) as ErrorBody;
  const first = parsed.errors?.[0];
  const openai = typeof parsed.error === "object" ? parsed.error : undefined;
  const code = first?.code ?? openai?.code ?? (typeof parsed.error === "string" ? parsed.error : `http_${status}`);
  const message = first?.message ?? openai?.message ?? (parsed.error_description || `${status} ${statusText}`.trim());
  const param = first?.param ?? openai?.param ?? null;
  const seconds = retryAfter !== null && /^\d+$/.test(retryAfter.trim()) ? Number(retryAfter) : null;
  const Class = status === 401 || status === 403 ? LlmqAuthError : status === 404 ? LlmqNotFoundError : status === 409 ? LlmqConflictError : status === 429 ? LlmqRateLimitError : LlmqApiError;
  return new Class(status, code, message, param, seconds);
}
