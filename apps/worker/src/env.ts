import { byteSizeSchema, flagSchema, parseEnv, retentionDaysSchema } from "@llmq/config";
import { hasRedisTarget, redisTargetEnv } from "@llmq/queue";
import { webhookTargetEnv } from "@llmq/webhooks";
import { z } from "zod";

const millisecondsList = z
  .string()
  .regex(/^\s*\d+(\s*,\s*\d+)*\s*$/, "a comma-separated list of milliseconds")
  .transform((value) => value.split(",").map((entry) => Number(entry.trim())));

const workerEnvSchema = z.object({
  DATABASE_URL: z.string().url(),
  /** REDIS_URL (one Redis) or REDIS_CLUSTER_NODES (a Redis Cluster's seeds; REDIS_URL then unused). */
  ...redisTargetEnv,
  REDIS_PREFIX: z.string().regex(/^[A-Za-z0-9_:{}-]+$/).default("llmq"),
  MODELS_FILE: z.string().default("config/models.yaml"),
  /** Comma-separated model ids this process serves; "all" (default) serves every model. */
  WORKER_MODELS: z.string().default("all"),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  /** How log lines look: `auto` is one readable line per entry when stdout is a terminal, JSON lines otherwise. */
  LOG_FORMAT: z.enum(["auto", "json", "pretty"]).default("auto"),
  /** How long SIGTERM waits for in-flight tasks before leaving them to another worker. */
  SHUTDOWN_TIMEOUT_MS: z.coerce.number().int().positive().default(30_000),
  /** A job whose worker stops renewing its lock this long is taken over by another worker. */
  LOCK_DURATION_MS: z.coerce.number().int().min(1_000).default(30_000),
  STALLED_INTERVAL_MS: z.coerce.number().int().min(500).default(15_000),
  /** A worker that has not beaten this long is dead: its jobs are taken over without waiting for their locks. */
  WORKER_DEAD_AFTER_MS: z.coerce.number().int().min(1_000).default(10_000),
  /** Least time between two progress writes to Postgres for one task. */
  CHECKPOINT_INTERVAL_MS: z.coerce.number().int().min(50).default(500),
  SWEEP_INTERVAL_MS: z.coerce.number().int().min(100).default(10_000),
  /** A PENDING task untouched this long with no job is re-enqueued. */
  SWEEP_AFTER_MS: z.coerce.number().int().min(100).default(30_000),
  /**
   * How often the sweeper starts a full pass over the tasks that ended in the last 24 hours, looking for
   * final webhooks a crash left unwritten (one page of 500 a round); between passes a round reads only the
   * tasks that ended since its last round. A pass also starts with each worker process.
   */
  SWEEP_WEBHOOK_PASS_MS: z.coerce.number().int().min(1_000).default(3_600_000),
  /**
   * Hours a finished response (`POST /v1/responses`) is kept after it ends, its replayable stream with it;
   * then the sweeper erases it as DELETE /v1/responses/{id} does. 0 = until deleted. At least 24 when set
   * (the promise: a stream can be resumed for at least a day); at most ten years. Empty is refused
   * rather than read as 0, which would keep everything.
   */
  RESPONSE_RETENTION_HOURS: z
    .string()
    .trim()
    .regex(/^\d{1,6}$/, "whole hours: 0 (keep until deleted) or 24 to 87600")
    .transform(Number)
    .refine((hours) => hours === 0 || (hours >= 24 && hours <= 87_600), "0 (keep until deleted) or 24 to 87600 hours (at least a day, at most ten years)")
    .prefault("720"),
  /**
   * Days a finished task (and an ended batch, with its tasks) is kept after it ended; then the sweeper
   * deletes it with its event stream and webhook deliveries (its idempotency key expired after 24 hours,
   * at least a day before). 0 = keep everything.
   */
  TASK_RETENTION_DAYS: retentionDaysSchema.prefault("30"),
  /** Days an uploaded file is kept after its upload (one an open batch reads is kept until the batch ends). 0 = until deleted. */
  FILE_RETENTION_DAYS: retentionDaysSchema.prefault("30"),
  /** WEBHOOK_ALLOWED_CIDRS (private ranges granted keys may reach) and WEBHOOK_ALLOWED_PORTS, checked again at each connection. */
  ...webhookTargetEnv,
  /** Longest a receiver may take to answer one attempt. */
  WEBHOOK_TIMEOUT_MS: z.coerce.number().int().min(100).default(10_000),
  /** Delays before each retry (default about 8 hours in all, Standard Webhooks style). */
  WEBHOOK_RETRY_DELAYS_MS: millisecondsList.prefault("5000,30000,120000,600000,1800000,3600000,7200000,14400000"),
  /** Batch files one worker process ingests at once (each user's batches are ingested one at a time, over all workers). */
  BATCH_INGEST_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(4),
  /** The largest request body the API takes, and so the longest line of a batch file (bytes or 1mb, 512kb). */
  BODY_LIMIT: byteSizeSchema.prefault("1mb"),
  /** Webhook attempts one worker process runs at once. */
  WEBHOOK_CONCURRENCY: z.coerce.number().int().min(1).max(1_000).default(16),
  /** Serve Prometheus metrics (queue wait, time to first token, durations, provider errors) on this port; unset = none. */
  WORKER_METRICS_PORT: z.coerce.number().int().min(0).max(65_535).optional(),
  WORKER_METRICS_HOST: z.string().default("127.0.0.1"),
  /** Count Redis commands and round trips (socket writes) on the metrics port; off by default (npm run bench turns it on). */
  REDIS_STATS: flagSchema,
}).refine(...hasRedisTarget);

export type WorkerEnv = z.infer<typeof workerEnvSchema>;

/** Reads and validates the worker's configuration once, at start-up. */
export function loadWorkerEnv(env: NodeJS.ProcessEnv): WorkerEnv {
  return parseEnv(workerEnvSchema, env);
}
