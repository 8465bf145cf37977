import type { ResponseStatus } from "@llmq/contract";

/** Bounds of `openai-poll-after-ms`: no sooner than this ... */
const MIN_POLL_AFTER_MS = 100;
/** ... and no later (an ETA is an estimate: a poll every few seconds keeps a client close to the truth). */
const MAX_POLL_AFTER_MS = 5_000;
/** When nothing better is known (running, or queued before its queue has run times to go by). */
const DEFAULT_POLL_AFTER_MS = 1_000;

/**
 * `openai-poll-after-ms` for a response that is not final: its ETA when queued with one, within
 * 100 ms .. 5 s, else 1 s; null once final (nothing more to poll for).
 */
export function pollAfterMs(status: ResponseStatus, etaSeconds: number | null): number | null {
  if (status !== "queued" && status !== "in_progress") return null;
  if (status === "queued" && etaSeconds !== null) return Math.min(MAX_POLL_AFTER_MS, Math.max(MIN_POLL_AFTER_MS, Math.round(etaSeconds * 1000)));
  return DEFAULT_POLL_AFTER_MS;
}
