import { ProviderError } from "@llmq/core";

/**
 * What an upstream request's failure says about the upstream's health, in the run queue's REPORT terms
 * (packages/queue `UpstreamReport`): `fail` with a label (connection, timeout, server) counts toward its
 * circuit breaker, `rate_limited` pauses it until Retry-After, `quota` pauses it for its quota pause.
 */
export type UpstreamFailure =
  | { kind: "fail"; error: "connection" | "timeout" | "server" }
  | { kind: "rate_limited"; retryAfterMs: number | null }
  | { kind: "quota" };

/**
 * The health report a provider failure makes, or null when the failure says nothing about the upstream's
 * health (the task's own fault: 400, 401/403, a stream that is not the protocol, an abort, a bug).
 * The one place that decides it: the worker's REPORT and its failover both read it.
 */
export function upstreamFailureOf(error: unknown): UpstreamFailure | null {
  if (!(error instanceof ProviderError)) return null;
  switch (error.code) {
    case "upstream_unreachable":
      return { kind: "fail", error: "connection" };
    case "upstream_timeout":
      return { kind: "fail", error: "timeout" };
    case "upstream_server_error":
      return { kind: "fail", error: "server" };
    case "rate_limited":
      return { kind: "rate_limited", retryAfterMs: error.retryAfterMs };
    case "quota_exceeded":
      return { kind: "quota" };
    default:
      return null;
  }
}
