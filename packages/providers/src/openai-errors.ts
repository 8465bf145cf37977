import { ProviderError } from "@llmq/core";

/** Who the error is about, and the secret that must never appear in its message. */
export interface ErrorContext {
  provider: string;
  apiKey: string | null;
}

/** The parts of an OpenAI-style error object we act on; vLLM, Ollama and OpenAI shape it differently. */
interface UpstreamErrorInfo {
  message: string | null;
  type: string | null;
  /** OpenAI sends a string code, vLLM the HTTP status as a number. */
  code: string | number | null;
}

// Long upstream messages (HTML error pages from proxies) would swamp logs and task records.
const MAX_MESSAGE_LENGTH = 500;

// Codes undici puts on `error.cause` when the connection itself failed.
const NETWORK_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "EPIPE",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ETIMEDOUT",
  "UND_ERR_SOCKET",
  "UND_ERR_CLOSED",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_HEADERS_TIMEOUT",
  "UND_ERR_BODY_TIMEOUT",
]);

/** Builds the ProviderError for a non-2xx answer, given its status, headers and body text. */
export function httpErrorToProviderError(
  context: ErrorContext,
  status: number,
  headers: Headers,
  bodyText: string,
  now: number = Date.now(),
): ProviderError {
  const info = parseErrorBody(bodyText);
  const detail = info?.message ?? (bodyText.trim() || "no error message");
  const message = `upstream ${context.provider} answered ${status}: ${clean(detail, context)}`;
  return classify(status, info, message, { retryAfterMs: retryAfterMs(headers, now) });
}

/** Builds the ProviderError for an `{"error": ...}` frame sent in the middle of a stream. */
export function streamErrorToProviderError(context: ErrorContext, payload: unknown): ProviderError {
  const info = errorInfo(payload);
  const message = `upstream ${context.provider} sent an error mid-stream: ${clean(info?.message ?? JSON.stringify(payload), context)}`;
  // vLLM puts the HTTP status it would have answered in `code`; otherwise treat it as a server fault.
  const status = typeof info?.code === "number" && info.code >= 400 && info.code < 600 ? info.code : 500;
  return classify(status, info, message, { retryAfterMs: null, upstreamStatus: 200 });
}

/** Wraps a connection-level failure (refused, reset, DNS) raised by fetch or by reading its body. */
export function networkErrorToProviderError(context: ErrorContext, error: unknown): ProviderError {
  const cause = (error as { cause?: { code?: unknown; message?: unknown } } | null)?.cause;
  const code = typeof cause?.code === "string" ? cause.code : null;
  const detail = typeof cause?.message === "string" ? cause.message : (error as Error).message;
  const reason = code && !detail.includes(code) ? `${code} (${detail})` : detail;
  return new ProviderError("upstream_unreachable", `upstream ${context.provider} unreachable: ${clean(reason, context)}`, {
    retryable: true,
    cause: error,
  });
}

/** True when `error` looks like undici's wrapper around a network failure rather than a bug. */
export function isNetworkError(error: unknown): boolean {
  // By name, not instanceof: undici's TypeError comes from another realm under jest and vm contexts.
  if (typeof error !== "object" || error === null || (error as Error).name !== "TypeError") return false;
  const { message, cause } = error as { message?: unknown; cause?: { code?: unknown } };
  const code = cause?.code;
  return (typeof code === "string" && NETWORK_CODES.has(code)) || message === "fetch failed" || message === "terminated";
}

/** Milliseconds to wait from `retry-after-ms`, or `Retry-After` in seconds or as an HTTP date. */
export function retryAfterMs(headers: Headers, now: number = Date.now()): number | null {
  const precise = Number(headers.get("retry-after-ms"));
  if (headers.has("retry-after-ms") && Number.isFinite(precise) && precise >= 0) return precise;
  const value = headers.get("retry-after")?.trim();
  if (!value) return null;
  if (/^\d+(\.\d+)?$/.test(value)) return Math.round(Number(value) * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? null : Math.max(0, date - now);
}

function classify(
  status: number,
  info: UpstreamErrorInfo | null,
  message: string,
  extra: { retryAfterMs: number | null; upstreamStatus?: number },
): ProviderError {
  const options = { upstreamStatus: extra.upstreamStatus ?? status };
  if (status === 429) {
    // A spent quota does not come back by waiting a few seconds, unlike a rate limit.
    if (info?.code === "insufficient_quota" || info?.type === "insufficient_quota") {
      return new ProviderError("quota_exceeded", message, { ...options, retryable: false });
    }
    return new ProviderError("rate_limited", message, { ...options, retryable: true, retryAfterMs: extra.retryAfterMs });
  }
  if (status === 401 || status === 403) return new ProviderError("upstream_auth", message, { ...options, retryable: false });
  // 408 is the upstream's own timeout, not a fault in our request.
  if (status === 408) return new ProviderError("upstream_timeout", message, { ...options, retryable: true });
  if (status >= 400 && status < 500) return new ProviderError("upstream_bad_request", message, { ...options, retryable: false });
  return new ProviderError("upstream_server_error", message, { ...options, retryable: true, retryAfterMs: extra.retryAfterMs });
}

function parseErrorBody(text: string): UpstreamErrorInfo | null {
  try {
    return errorInfo(JSON.parse(text));
  } catch {
    return null;
  }
}

// Accepts OpenAI `{error:{message,type,code}}`, vLLM `{object:"error",message,...}` and Ollama `{error:"..."}`.
function errorInfo(payload: unknown): UpstreamErrorInfo | null {
  if (typeof payload !== "object" || payload === null) return null;
  const outer = payload as Record<string, unknown>;
  if (typeof outer.error === "string") return { message: outer.error, type: null, code: null };
  const inner = typeof outer.error === "object" && outer.error !== null ? (outer.error as Record<string, unknown>) : outer;
  const message = typeof inner.message === "string" ? inner.message : null;
  const type = typeof inner.type === "string" ? inner.type : null;
  const code = typeof inner.code === "string" || typeof inner.code === "number" ? inner.code : null;
  return message === null && type === null && code === null ? null : { message, type, code };
}

// Some proxies echo the credentials they rejected; the message ends up in logs and task records.
function clean(text: string, context: ErrorContext): string {
  const redacted = context.apiKey ? text.split(context.apiKey).join("[redacted]") : text;
  return redacted.length > MAX_MESSAGE_LENGTH ? `${redacted.slice(0, MAX_MESSAGE_LENGTH)}...` : redacted;
}
