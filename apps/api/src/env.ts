import { parseEnv } from "@llmq/core";
import { webhookTargetsEnvSchema } from "@llmq/webhooks";
import { z } from "zod";

const apiEnvSchema = z.object({
  DATABASE_URL: z.string().url(),
  REDIS_URL: z.string().url(),
  REDIS_PREFIX: z.string().regex(/^[A-Za-z0-9_:{}-]+$/).default("llmq"),
  MODELS_FILE: z.string().default("config/models.yaml"),
  PORT: z.coerce.number().int().min(0).max(65_535).default(3000),
  HOST: z.string().default("127.0.0.1"),
  ADMIN_API_KEY: z.string().min(16, "ADMIN_API_KEY must be at least 16 characters"),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  /** Longest a synchronous request holds its connection by default (`?wait=` overrides, up to WAIT_MAX_SECONDS). */
  WAIT_DEFAULT_SECONDS: z.coerce.number().positive().default(60),
  WAIT_MAX_SECONDS: z.coerce.number().positive().default(600),
  BODY_LIMIT: z.string().default("1mb"),
  /** Body limit of `POST /v1/ai/batches` alone (up to 50,000 requests in one call). */
  BATCH_BODY_LIMIT: z
    .string()
    .regex(/^\d+(\.\d+)?\s*(b|kb|mb|gb)$/i, "a size such as 64mb or 512kb")
    .default("64mb"),
  /** Task submissions per key per minute, both dialects together; 0 = no limit. */
  RATE_LIMIT_PER_MINUTE: z.coerce.number().int().min(0).default(600),
  /** Largest file `POST /v1/files` accepts, in bytes (OpenAI's Batch API limit: 200 MiB). */
  FILES_MAX_BYTES: z.coerce.number().int().positive().default(200 * 1024 * 1024),
  /** A task no worker started within this many seconds expires (0: never); `queue_ttl_seconds` overrides it per task. */
  TASK_QUEUE_TTL_SECONDS: z.coerce.number().int().min(0).default(86_400),
  /** An attempt running longer fails with run_timeout (0: no limit); `timeout_seconds` overrides it per task. */
  TASK_TIMEOUT_SECONDS: z.coerce.number().int().min(0).default(600),
  /** Interactive tasks a key may have PENDING or RUNNING at once (0: no limit); per key with limits.max_concurrent_tasks. */
  MAX_CONCURRENT_TASKS_PER_KEY: z.coerce.number().int().min(0).default(0),
  /** Prompt + completion tokens a key may use per UTC day (0: no limit); per key with limits.tokens_per_day. */
  TOKENS_PER_DAY_PER_KEY: z.coerce.number().int().min(0).default(0),
  /** Private or loopback ranges webhook URLs may point to, comma-separated CIDRs (default: none). */
  WEBHOOK_ALLOWED_CIDRS: webhookTargetsEnvSchema,
});

export type ApiEnv = z.infer<typeof apiEnvSchema>;

/** Reads and validates the API's configuration once, at start-up. */
export function loadApiEnv(env: NodeJS.ProcessEnv): ApiEnv {
  return parseEnv(apiEnvSchema, env);
}
