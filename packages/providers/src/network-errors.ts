import type { ProviderError } from "@llmq/core";
import { type ErrorContext, upstreamError } from "./openai-errors";

/** What tenants are told for each network failure code: the kind of failure, never where. */
const NETWORK_FAILURES: Record<string, string> = {
  ECONNREFUSED: "connection refused",
  ECONNRESET: "connection reset",
  ECONNABORTED: "connection reset",
  EPIPE: "connection reset",
  UND_ERR_SOCKET: "connection reset",
  UND_ERR_CLOSED: "connection reset",
  UND_ERR_DESTROYED: "connection reset",
  UND_ERR_RES_CONTENT_LENGTH_MISMATCH: "connection reset",
  ENOTFOUND: "name not found",
  EAI_AGAIN: "name not found",
  EHOSTUNREACH: "host unreachable",
  ENETUNREACH: "host unreachable",
  ETIMEDOUT: "timed out",
  UND_ERR_CONNECT_TIMEOUT: "timed out",
  UND_ERR_HEADERS_TIMEOUT: "timed out",
  UND_ERR_BODY_TIMEOUT: "timed out",
};

/**
 * The failure a connection-level error carries, in either shape: undici.request (and node:net, node:tls)
 * throw the failure itself, with its own `code`; fetch wraps it in a TypeError ("fetch failed", or
 * "terminated" once the body was streaming) whose `cause` is the failure.
 */
function failureOf(error: unknown): (Error & { code?: unknown; syscall?: unknown; errors?: unknown }) | null {
  if (typeof error !== "object" || error === null) return null;
  const { name, message, cause } = error as Error;
  // By name, not instanceof: undici's errors come from another realm under jest and vm contexts.
  if (name === "TypeError" && (message === "fetch failed" || message === "terminated")) {
    return typeof cause === "object" && cause !== null ? (cause as Error) : (error as Error);
  }
  return isConnectionFailure(error) ? (error as Error) : null;
}

// What the transport itself raises, as opposed to a bug or a usage error (UND_ERR_INVALID_ARG and such).
function isConnectionFailure(error: object): boolean {
  const { name, code, syscall } = error as { name?: unknown; code?: unknown; syscall?: unknown };
  // The upstream answered something that is not HTTP.
  if (name === "HTTPParserError") return true;
  if (typeof code !== "string") return false;
  // A failed system call (connect, read, write, getaddrinfo), whatever its errno.
  if (typeof syscall === "string") return true;
  // TLS: OpenSSL's errors and certificate checks.
  return code in NETWORK_FAILURES || /^(ERR_SSL_|ERR_TLS_|CERT_|UNABLE_TO_|DEPTH_ZERO_|SELF_SIGNED_|HPE_)/.test(code);
}

/** True when `error` is a network failure (refused, reset, DNS, TLS, not HTTP) rather than a bug. */
export function isNetworkError(error: unknown): boolean {
  return failureOf(error) !== null;
}

/** Wraps a connection-level failure raised by the request or by reading its body; tenants read no address. */
export function networkErrorToProviderError(context: ErrorContext, error: unknown): ProviderError {
  const failure = failureOf(error);
  const code = typeof failure?.code === "string" ? failure.code : null;
  const detail = describe(failure ?? (error as Error));
  const reason = code && !detail.includes(code) ? `${code} (${detail})` : detail;
  const what = (code && NETWORK_FAILURES[code]) ?? ((error as Error).message === "terminated" ? "connection reset" : "connection failed");
  return upstreamError(context, "upstream_unreachable", `could not be reached: ${what}`, { retryable: true, cause: error, logDetail: `unreachable: ${reason}` });
}

// An AggregateError (a host with several addresses, each refused) has no message of its own.
function describe(error: Error & { errors?: unknown }): string {
  if (error.message) return error.message.trim();
  if (Array.isArray(error.errors)) return error.errors.map((each) => (each as Error)?.message).join("; ");
  return error.name;
}
