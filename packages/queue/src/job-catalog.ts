import type { JobsOptions } from "bullmq";
import { z } from "zod";

/**
 * Every job the queues carry: its payload schema (checked again when dequeued) and its retry policy.
 * The payload names the task only: the task row in Postgres holds the request.
 */
export const jobCatalog = {
  "text-completion": {
    payload: z.strictObject({ taskId: z.string().regex(/^[0-9a-f]{32}$/) }),
    options: {
      attempts: 5,
      backoff: { type: "provider" },
      // Kept a while so a repeated enqueue of a finished task (same job id) stays a no-op.
      removeOnComplete: { age: 24 * 3600, count: 10_000 },
      removeOnFail: { age: 7 * 24 * 3600, count: 10_000 },
    } satisfies JobsOptions,
  },
  /** Reads a batch's input file, checks every line, then creates and enqueues its tasks. */
  "batch-ingest": {
    payload: z.strictObject({ batchId: z.string().regex(/^batch_[0-9a-f]{32}$/) }),
    options: {
      attempts: 5,
      backoff: { type: "exponential", delay: 2_000 },
      removeOnComplete: { age: 24 * 3600, count: 1_000 },
      removeOnFail: { age: 7 * 24 * 3600, count: 1_000 },
    } satisfies JobsOptions,
  },
  /**
   * One attempt of a webhook delivery. Retries are new jobs (`<delivery>-a<attempt>`) delayed by the
   * webhook schedule, not BullMQ retries: the schedule is the delivery's, recorded in Postgres.
   */
  "webhook-delivery": {
    payload: z.strictObject({ deliveryId: z.string().min(1).max(200), attempt: z.number().int().min(1) }),
    options: {
      // Only for a crash inside the job itself; a failed HTTP attempt completes the job and schedules the next.
      attempts: 3,
      backoff: { type: "exponential", delay: 1_000 },
      removeOnComplete: { age: 24 * 3600, count: 10_000 },
      removeOnFail: { age: 7 * 24 * 3600, count: 10_000 },
    } satisfies JobsOptions,
  },
} as const;

/** The queue that carries webhook deliveries, served by every worker process. */
export const WEBHOOK_QUEUE = "llmq_webhooks";

/** The queue that carries batch ingestion, served by every worker process. */
export const BATCH_QUEUE = "llmq_batches";

/**
 * BullMQ priority of batch items: higher numbers run later, and jobs without a priority (interactive
 * requests) run before any prioritized job, so a large batch never holds back an interactive call by
 * more than the tasks already running.
 */
export const BATCH_PRIORITY = 100;

export type JobName = keyof typeof jobCatalog;
export type JobPayload<N extends JobName> = z.infer<(typeof jobCatalog)[N]["payload"]>;

/** Delay before the next attempt: the upstream's Retry-After when it gave one, else exponential with jitter. */
export function retryDelayMs(attemptsMade: number, retryAfterMs: number | null): number {
  if (retryAfterMs !== null) return retryAfterMs;
  const base = Math.min(1_000 * 2 ** Math.max(0, attemptsMade - 1), 30_000);
  return Math.round(base / 2 + Math.random() * (base / 2));
}
