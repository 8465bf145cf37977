import type { JobsOptions } from "bullmq";
import { z } from "zod";

/**
 * A copy of a small interactive task's request, carried by its job so the worker can call the upstream
 * while the attempt's start commits. The task row in Postgres stays the truth: it decides whether the
 * attempt may run, and a request's fields never change after creation.
 */
export const requestCopySchema = z.strictObject({
  model: z.string(),
  messages: z.array(z.unknown()),
  configs: z.record(z.string(), z.unknown()),
  runTimeoutMs: z.number().int().positive().nullable(),
});
export type RequestCopy = z.infer<typeof requestCopySchema>;

/** The largest request (its JSON) a job carries a copy of; larger ones are read from the row at start. */
export const MAX_REQUEST_COPY_BYTES = 16 * 1024;

/**
 * Every job the queues carry: its payload schema (checked again when dequeued) and its retry policy.
 * The payload names the task (and may carry a copy of a small request, see requestCopySchema).
 */
export const jobCatalog = {
  "text-completion": {
    payload: z.strictObject({ taskId: z.string().regex(/^[0-9a-f]{32}$/), request: requestCopySchema.optional() }),
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
