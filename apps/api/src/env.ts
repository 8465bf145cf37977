import os from "node:os";
import { flagSchema, parseEnv, retentionDaysSchema } from "@llmq/config";
import { hasRedisTarget, redisTargetEnv } from "@llmq/queue";
import { webhookTargetEnv } from "@llmq/webhooks";
import { z } from "zod";
import { trustProxySchema } from "./http/proxy-trust";
import { defaultProcessStreamCeiling } from "./services/stream-ceiling";

/** `https://app.example.com,http://localhost:5173`: each an origin exactly as browsers send it (no path, no trailing slash). */
const corsOriginsSchema = z
  .string()
  .default("")
  .transform((value) => value.split(",").map((origin) => origin.trim()).filter(Boolean))
  .pipe(z.array(z.string().regex(/^https?:\/\/[^/\s]+$/, "each CORS origin is scheme://host[:port], e.g. https://app.example.com")));

/** An optional variable; set but empty (as docker compose passes `${VAR:-}`) counts as unset. */
const unlessEmpty = <T extends z.ZodType>(schema: T) => z.preprocess((value) => (value === "" ? undefined : value), schema.optional());

const apiEnvSchema = z
  .object({
    DATABASE_URL: z.string().url(),
    /** REDIS_URL (one Redis) or REDIS_CLUSTER_NODES (a Redis Cluster's seeds; REDIS_URL then unused). */
    ...redisTargetEnv,
    REDIS_PREFIX: z.string().regex(/^[A-Za-z0-9_:{}-]+$/).default("llmq"),
    MODELS_FILE: z.string().default("config/models.yaml"),
    PORT: z.coerce.number().int().min(0).max(65_535).default(3000),
    HOST: z.string().default("127.0.0.1"),
    /** API processes sharing PORT (node:cluster), one per core by default; 1: no cluster, the API runs in this process. */
    API_PROCESSES: z.coerce.number().int().min(1).max(256).default(os.availableParallelism()),
    ADMIN_API_KEY: z.string().min(16, "ADMIN_API_KEY must be at least 16 characters"),
    LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
    /** How log lines look: `auto` is one readable line per entry when stdout is a terminal, JSON lines otherwise. */
    LOG_FORMAT: z.enum(["auto", "json", "pretty"]).default("auto"),
    /** A request that spends longer than this in the service (upstream wait and SSE streams left out) is logged at warn; others only at debug. */
    SLOW_REQUEST_MS: z.coerce.number().int().min(0).default(1000),
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
    /** Files a user may have stored at once, uploads and batch results together (0: no limit). */
    FILES_MAX_PER_USER: z.coerce.number().int().min(0).default(1_000),
    /** Bytes a user may have stored in all (0: no limit); an upload that would pass it is refused as it passes. */
    FILES_MAX_TOTAL_BYTES_PER_USER: z.coerce.number().int().min(0).default(10 * 1024 ** 3),
    /** `POST /v1/files` per user per minute (0: no limit). */
    FILES_UPLOADS_PER_MINUTE: z.coerce.number().int().min(0).default(30),
    /** Days the workers keep an uploaded file (0: until deleted): the API only says it, in each file object's `expires_at`. Set it as on the workers. */
    FILE_RETENTION_DAYS: retentionDaysSchema.prefault("30"),
    /** Days the workers keep a finished task, and a batch's tasks after the batch ended (0: for good): the API only says it, in a batch's output and error files' `expires_at`. Set it as on the workers. */
    TASK_RETENTION_DAYS: retentionDaysSchema.prefault("30"),
    /** A task no worker started within this many seconds expires (0: never); `queue_ttl_seconds` overrides it per task. */
    TASK_QUEUE_TTL_SECONDS: z.coerce.number().int().min(0).default(86_400),
    /** An attempt running longer fails with run_timeout (0: no limit); `timeout_seconds` overrides it per task. */
    TASK_TIMEOUT_SECONDS: z.coerce.number().int().min(0).default(600),
    /** Interactive tasks a key may have PENDING or RUNNING at once (0: no limit); per key with limits.max_concurrent_tasks. */
    MAX_CONCURRENT_TASKS_PER_KEY: z.coerce.number().int().min(0).default(0),
    /** Prompt + completion tokens a key may use per UTC day (0: no limit); per key with limits.tokens_per_day. */
    TOKENS_PER_DAY_PER_KEY: z.coerce.number().int().min(0).default(0),
    /** Open streams (SSE, both dialects) and synchronous requests waiting for their task a key may hold at once, over all API processes (0: no limit); per key with limits.max_open_streams. */
    MAX_OPEN_STREAMS_PER_KEY: z.coerce.number().int().min(0).default(1_000),
    /** Open streams and synchronous waits one API process holds before it answers 503 (0: no ceiling); unset: from the memory the process may use. */
    MAX_OPEN_STREAMS_PER_PROCESS: unlessEmpty(z.coerce.number().int().min(0)).transform((value) => value ?? defaultProcessStreamCeiling()),
    /** Batches (both kinds) a user may have open (not yet ended) at once; 0: no cap. The admin key has none. */
    MAX_OPEN_BATCHES_PER_USER: z.coerce.number().int().min(0).default(100),
    /** WEBHOOK_ALLOWED_CIDRS (private ranges keys granted them may target, default none) and WEBHOOK_ALLOWED_PORTS. */
    ...webhookTargetEnv,
    /** Proxies whose X-Forwarded-For names the client (sign-in throttle, host_of_client_call_request): a hop count or addresses/ranges; unset: none. */
    TRUST_PROXY: trustProxySchema,
    /** Bearer token Prometheus sends to GET /metrics (the admin key works too); unset: the admin key only. */
    /** Count Redis commands and round trips (socket writes) on /metrics; off by default (npm run bench turns it on). */
    REDIS_STATS: flagSchema,
    METRICS_TOKEN: unlessEmpty(z.string().min(16, "METRICS_TOKEN must be at least 16 characters").regex(/^\S+$/, "METRICS_TOKEN cannot contain spaces")),
    /** Browser origins allowed to call the API (CORS), comma-separated; empty (default): none. */
    CORS_ORIGINS: corsOriginsSchema,
    /** The built dashboard served at /dashboard; unset = apps/dashboard/dist of this checkout. */
    DASHBOARD_DIR: unlessEmpty(z.string()),
    /** HMAC key of access tokens (JWT HS256); every API process of a deployment shares it. */
    AUTH_JWT_SECRET: z.string().min(32, "AUTH_JWT_SECRET must be at least 32 characters"),
    ACCESS_TOKEN_TTL_SECONDS: z.coerce.number().int().min(5).max(86_400).default(900),
    REFRESH_TOKEN_TTL_SECONDS: z.coerce.number().int().min(60).default(30 * 24 * 3600),
    /** Failed sign-ins per email and client address per minute before 429 (password guessing); 0 = no limit. */
    LOGIN_RATE_LIMIT_PER_MINUTE: z.coerce.number().int().min(0).default(10),
    /** Failed sign-ins per email per minute from all addresses together before 429 (guesses spread over addresses); 0 = no limit. */
    LOGIN_RATE_LIMIT_PER_EMAIL_PER_MINUTE: z.coerce.number().int().min(0).default(30),
    /** Open streams' keys and users are read again this often (one query per process); pub/sub ends them at once in the usual case. */
    STREAM_CREDENTIAL_CHECK_SECONDS: z.coerce.number().int().min(1).max(3600).default(30),
    /** A task's event stream waits this long for its reader to take what it was sent (past 1 MiB unsent) before it ends it; the reader resumes with Last-Event-ID. */
    SSE_STALLED_READER_MS: z.coerce.number().int().min(100).max(600_000).default(30_000),
    /**
     * A task cancelled while it ran: how long after the cancel its readers (a live Responses stream, the
     * cancel's answer, retrieve) wait for the worker to record what the attempt generated; 0 = never wait.
     */
    CANCELLED_OUTPUT_WAIT_MS: z.coerce.number().int().min(0).max(60_000).default(3_000),
    /** Resolved API keys are served from memory this long (0: every request reads its key); changes made through the API drop them at once in every process. */
    API_KEY_CACHE_SECONDS: z.coerce.number().int().min(0).max(3600).default(60),
    /** With ADMIN_PASSWORD: an admin account created at start-up when no user has this email. */
    ADMIN_EMAIL: unlessEmpty(z.email()),
    ADMIN_PASSWORD: unlessEmpty(z.string().min(8, "ADMIN_PASSWORD must be at least 8 characters").max(1024)),
  })
  .refine((env) => (env.ADMIN_EMAIL === undefined) === (env.ADMIN_PASSWORD === undefined), {
    message: "set both ADMIN_EMAIL and ADMIN_PASSWORD, or neither",
    path: ["ADMIN_PASSWORD"],
  })
  .refine(...hasRedisTarget);

export type ApiEnv = z.infer<typeof apiEnvSchema>;

/** Reads and validates the API's configuration once, at start-up. */
export function loadApiEnv(env: NodeJS.ProcessEnv): ApiEnv {
  return parseEnv(apiEnvSchema, env);
}
