import { AppError } from "./app-error";

export type ProviderErrorKind =
  | "rate_limited"
  | "quota_exceeded"
  | "upstream_server_error"
  | "upstream_timeout"
  | "upstream_unreachable"
  | "upstream_bad_request"
  | "upstream_auth"
  | "upstream_protocol";

/**
 * An upstream model provider failed; `retryable` tells the queue whether another attempt can help.
 * `message` is what tenants read (task errors, OpenAI error bodies, SSE events): it names the failure
 * but never the upstream (provider, host, address, port). `detail` has those, for the worker's logs.
 */
export class ProviderError extends AppError {
  readonly status = 502;
  readonly code: ProviderErrorKind;
  readonly retryable: boolean;
  /** HTTP status the upstream answered, when it answered. */
  readonly upstreamStatus: number | null;
  /** How long to wait before retrying, from Retry-After, when the upstream said. */
  readonly retryAfterMs: number | null;
  /** The failure with the upstream named (provider, codes, addresses): for logs only. */
  readonly detail: string | null;

  constructor(
    kind: ProviderErrorKind,
    message: string,
    options: { retryable: boolean; upstreamStatus?: number | null; retryAfterMs?: number | null; cause?: unknown; detail?: string | null },
  ) {
    super(message, {
      cause: options.cause,
      retryAfterSeconds: options.retryAfterMs == null ? null : Math.ceil(options.retryAfterMs / 1000),
    });
    this.code = kind;
    this.retryable = options.retryable;
    this.upstreamStatus = options.upstreamStatus ?? null;
    this.retryAfterMs = options.retryAfterMs ?? null;
    this.detail = options.detail ?? null;
  }
}
