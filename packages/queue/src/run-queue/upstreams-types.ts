/**
 * Upstream capacity and health in the run queue (issue 16, part 2). Limits are never stored in Redis:
 * every call passes the model's upstreams from the caller's models file, so a changed file takes effect
 * at the next call and a rolling deploy converges.
 */
export interface UpstreamParams {
  /** Unique within the model: letters, digits and `. _ -` (a key name part). */
  name: string;
  /** Share of the load under saturation (weighted least in flight); default 1. */
  weight?: number;
  /** Requests in flight at once across every worker; null/absent = no cap. */
  maxConcurrency?: number | null;
  /** Requests started in any sliding 60 s window; null/absent = no cap. */
  requestsPerMinute?: number | null;
  /** Tokens (reserved at start, settled with real usage) in any sliding 60 s window; null/absent = no cap. */
  tokensPerMinute?: number | null;
  /** Circuit breaker: open after `failures` in `windowMs`, half-open (one probe) after `cooldownMs`; null = none. */
  circuit?: { failures: number; windowMs: number; cooldownMs: number } | null;
  /** How long `insufficient_quota` pauses the upstream; default 60 s. */
  quotaPauseMs?: number;
}

/** What one upstream request ended with, as the worker tells REPORT. */
export type UpstreamReport =
  /** Answered (latency: the request's time to its first token or answer, as the caller measures it). */
  | { kind: "ok"; latencyMs?: number }
  /** Connection refused/reset, timeout, 5xx: counts toward the breaker. `error` labels the errors histogram (default `fail`). */
  | { kind: "fail"; error?: string }
  /** 429: pauses the upstream for everyone until Retry-After, else by a step doubling from 1 s (reset by ok). */
  | { kind: "rate_limited"; retryAfterMs?: number | null }
  /** insufficient_quota: pauses the upstream for its `quotaPauseMs`. */
  | { kind: "quota" };

export type UpstreamState = "ok" | "paused" | "open" | "half_open";

/** An upstream's health right after a REPORT. */
export interface UpstreamHealth {
  state: UpstreamState;
  /** Until when it is paused (epoch ms), or null. */
  pausedUntil: number | null;
  /** Until when its breaker is open (epoch ms), or null. */
  openUntil: number | null;
}

/** Why one upstream had no room for the task at the head of the line. */
export type UpstreamBlockReason = "paused" | "open" | "probing" | "concurrency" | "requests" | "tokens";

/**
 * Why a dispatch (or RESERVE) found no upstream: `unavailable` when every upstream is paused, open or
 * probing (the case for fallbacks and for holding), `capacity` when one is only full. `wakeAt` is when
 * one may have room again (a pause or cooldown ends, a request or tokens leave the window), or null
 * when only a settle or a report can free room (concurrency, a probe in flight).
 */
export interface DispatchBlock {
  reason: "capacity" | "unavailable";
  wakeAt: number | null;
  upstreams: Record<string, UpstreamBlockReason>;
}

/** RESERVE's answer: the upstream now reserved for the task, or why there is none. */
export type Reservation = { upstream: string } | { upstream: null; blocked: DispatchBlock | null; lost: boolean };

/** One upstream as GET /v1/admin/upstreams shows it (SNAPSHOT, read-only). */
export interface UpstreamSnapshot {
  name: string;
  state: UpstreamState;
  pausedUntil: number | null;
  /** `rate_limited` or `quota` while paused. */
  pauseKind: string | null;
  /** While open: when it turns half-open; null otherwise. */
  openUntil: number | null;
  inFlight: number;
  maxConcurrency: number | null;
  requestsMinute: number;
  requestsPerMinute: number | null;
  tokensMinute: number;
  tokensPerMinute: number | null;
  /** Over the last 200 successful requests; null with none. */
  latencyMs: { p50: number; p95: number } | null;
  /** Errors of the last 5 minutes by kind. */
  errors: Record<string, number>;
  lastError: { kind: string; at: number } | null;
}
