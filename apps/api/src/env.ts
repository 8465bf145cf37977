import { parseEnv } from "@llmq/core";
import { webhookTargetsEnvSchema } from "@llmq/webhooks";
import { z } from "zod";

/** `https://app.example.com,http://localhost:5173`: each an origin exactly as browsers send it (no path, no trailing slash). */
const corsOriginsSchema = z
  .string()
  .default("")
  .transform((value) => value.split(",").map((origin) => origin.trim()).filter(Boolean))
  .pipe(z.array(z.string().regex(/^https?:\/\/[^/\s]+$/, "each CORS origin is scheme://host[:port], e.g. https://app.example.com")));

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
  /** Private or loopback ranges webhook URLs may point to, comma-separated CIDRs (default: none). */
  WEBHOOK_ALLOWED_CIDRS: webhookTargetsEnvSchema,
  /** Browser origins allowed to call the API cross-origin, comma-separated exact origins; empty = none. */
  CORS_ORIGINS: corsOriginsSchema,
});

export type ApiEnv = z.infer<typeof apiEnvSchema>;

/** Reads and validates the API's configuration once, at start-up. */
export function loadApiEnv(env: NodeJS.ProcessEnv): ApiEnv {
  return parseEnv(apiEnvSchema, env);
}
