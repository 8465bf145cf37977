import { ProviderError, type ProviderErrorKind } from "@llmq/core";

/** Who the error is about, and what must never appear in what tenants read: the secret, the upstream's address. */
export interface ErrorContext {
  provider: string;
  apiKey: string | null;
  /** The provider's base URL: its host is taken out of tenants' messages wherever the upstream quotes it. */
  baseUrl?: string;
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

/**
 * The one way provider errors are made: `what` happened to "the upstream" is what tenants read, with
 * addresses taken out and the key redacted; the log's `detail` names the provider and keeps `logDetail`.
 */
export function upstreamError(
  context: ErrorContext,
  kind: ProviderErrorKind,
  what: string,
  options: { retryable: boolean; upstreamStatus?: number; retryAfterMs?: number | null; cause?: unknown; logDetail?: string },
): ProviderError {
  const { logDetail, ...rest } = options;
  return new ProviderError(kind, `the upstream ${withoutAddresses(clean(what, context), context)}`, {
    ...rest,
    detail: `upstream ${context.provider} (${whereOf(context)}) ${clean(logDetail ?? what, context)}`,
  });
}

/** The upstream's scheme, host and path for logs: credentials and query strings left out. */
function whereOf(context: ErrorContext): string {
  if (!context.baseUrl || !URL.canParse(context.baseUrl)) return "no base URL";
  const url = new URL(context.baseUrl);
  return `${url.protocol}//${url.host}${url.pathname}`;
}

/** Response headers as undici.request (and node:http) give them: lower-case names, repeated ones as arrays. */
export type ResponseHeaders = Readonly<Record<string, string | string[] | undefined>>;

/** Builds the ProviderError for a non-2xx answer, given its status, headers and body text. */
export function httpErrorToProviderError(
  context: ErrorContext,
  status: number,
  headers: ResponseHeaders,
  bodyText: string,
  now: number = Date.now(),
): ProviderError {
  const info = parseErrorBody(bodyText);
  const detail = info?.message ?? (bodyText.trim() || "no error message");
  return classify(context, status, info, `answered ${status}: ${detail}`, { retryAfterMs: retryAfterMs(headers, now) });
}

/** Builds the ProviderError for an `{"error": ...}` frame sent in the middle of a stream (or as a 200's whole answer). */
export function streamErrorToProviderError(context: ErrorContext, payload: unknown, where = "mid-stream"): ProviderError {
  const info = errorInfo(payload);
  // vLLM puts the HTTP status it would have answered in `code`; otherwise treat it as a server fault.
  const status = typeof info?.code === "number" && info.code >= 400 && info.code < 600 ? info.code : 500;
  return classify(context, status, info, `sent an error ${where}: ${info?.message ?? JSON.stringify(payload)}`, { retryAfterMs: null, upstreamStatus: 200 });
}

/** Milliseconds to wait from `retry-after-ms`, or `Retry-After` in seconds or as an HTTP date. */
export function retryAfterMs(headers: ResponseHeaders, now: number = Date.now()): number | null {
  const preciseValue = header(headers, "retry-after-ms");
  const precise = Number(preciseValue);
  if (preciseValue !== null && Number.isFinite(precise) && precise >= 0) return precise;
  const value = header(headers, "retry-after")?.trim();
  if (!value) return null;
  if (/^\d+(\.\d+)?$/.test(value)) return Math.round(Number(value) * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? null : Math.max(0, date - now);
}

// A header sent twice counts once, by its first value (Headers.get would have joined them with ", ").
function header(headers: ResponseHeaders, name: string): string | null {
  const value = headers[name];
  return (Array.isArray(value) ? value[0] : value) ?? null;
}

function classify(
  context: ErrorContext,
  status: number,
  info: UpstreamErrorInfo | null,
  what: string,
  extra: { retryAfterMs: number | null; upstreamStatus?: number },
): ProviderError {
  const options = { upstreamStatus: extra.upstreamStatus ?? status };
  const error = (kind: ProviderErrorKind, more: { retryable: boolean; retryAfterMs?: number | null }) => upstreamError(context, kind, what, { ...options, ...more });
  if (status === 429) {
    // A spent quota does not come back by waiting a few seconds, unlike a rate limit.
    if (info?.code === "insufficient_quota" || info?.type === "insufficient_quota") return error("quota_exceeded", { retryable: false });
    return error("rate_limited", { retryable: true, retryAfterMs: extra.retryAfterMs });
  }
  if (status === 401 || status === 403) return error("upstream_auth", { retryable: false });
  // 408 is the upstream's own timeout, not a fault in our request.
  if (status === 408) return error("upstream_timeout", { retryable: true });
  if (status >= 400 && status < 500) return error("upstream_bad_request", { retryable: false });
  return error("upstream_server_error", { retryable: true, retryAfterMs: extra.retryAfterMs });
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

// URLs, IPv4 and bracketed IPv6 addresses (with their ports), bare IPv6 addresses, and host:port pairs.
const ADDRESS_PATTERNS: readonly RegExp[] = [
  /\b[a-z][a-z0-9+.-]*:\/\/[^\s"'<>()]+/gi,
  /\[[0-9a-f:.]*:[0-9a-f:.]*\](?::\d{1,5})?/gi,
  /\b(?:\d{1,3}\.){3}\d{1,3}(?::\d{1,5})?\b/g,
  /(?<![\w:])(?:[0-9a-f]{1,4}:){3,7}[0-9a-f]{1,4}(?![\w:])|(?<![\w:])(?:[0-9a-f]{1,4}:)*:(?::?[0-9a-f]{1,4})+(?![\w:])/gi,
  /\b(?:localhost|[a-z0-9-]+(?:\.[a-z0-9-]+)+):\d{1,5}\b/gi,
];

/**
 * `text` with every address taken out: URLs, IP addresses, host:port pairs, and the provider's own
 * host wherever it appears. Upstreams and the proxies before them quote where they are in their errors.
 */
export function withoutAddresses(text: string, context: Pick<ErrorContext, "baseUrl">): string {
  let result = text;
  for (const pattern of ADDRESS_PATTERNS) result = result.replace(pattern, "[address]");
  // A one-label host (a compose service such as `vllm`) matches no pattern: taken out as a word.
  const host = context.baseUrl && URL.canParse(context.baseUrl) ? new URL(context.baseUrl).hostname.replace(/^\[|\]$/g, "") : "";
  if (host) result = result.replace(new RegExp(`(?<![\\w.-])${host.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}(?![\\w-])`, "gi"), "[address]");
  return result;
}

// Some proxies echo the credentials they rejected; the message ends up in logs and task records.
function clean(text: string, context: ErrorContext): string {
  const redacted = context.apiKey ? text.split(context.apiKey).join("[redacted]") : text;
  return redacted.length > MAX_MESSAGE_LENGTH ? `${redacted.slice(0, MAX_MESSAGE_LENGTH)}...` : redacted;
}
