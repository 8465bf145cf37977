import type { Response } from "express";

/** The answer header, as LiteLLM's `x-litellm-overhead-duration-ms`: milliseconds, one decimal. */
const OVERHEAD_HEADER = "x-llmq-overhead-ms";

/**
 * Marks a completion answered after waiting for its task: `x-llmq-overhead-ms` is the time the request
 * spent in the service outside the task's attempt (`completed_at - started_at` of the attempt that
 * finished it, as the worker recorded it: the upstream call, from just before the worker's start
 * statement to the last token). What remains is ours: HTTP, authentication, validation, the insert,
 * the enqueue, the queue and the worker's pickup, the completion statement, the notice back to this
 * process, the final read and the answer's serialisation. `/metrics` serves the same as
 * `llmq_overhead_seconds` (observed by the request observer when the answer is done).
 */
export function markOverhead(res: Response, task: { startedAt: Date | null; completedAt: Date | null }): void {
  const arrived = res.locals.arrivedAt;
  if (arrived === undefined) return;
  const upstreamMs = task.startedAt && task.completedAt ? Math.max(0, task.completedAt.getTime() - task.startedAt.getTime()) : 0;
  const overheadMs = Math.max(0, performance.now() - arrived - upstreamMs);
  res.locals.upstreamMs = upstreamMs;
  res.locals.overheadMs = overheadMs;
  res.setHeader(OVERHEAD_HEADER, (Math.round(overheadMs * 10) / 10).toString());
}

/**
 * Notes that the request now waits for its task (queue and upstream): if it ends without markOverhead
 * (the wait ran out, the client left, the task failed), the wait is not counted as the service's own
 * time when judging a slow request.
 */
export function markWaiting(res: Response): void {
  res.locals.waitingSince = performance.now();
}
