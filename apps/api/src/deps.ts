import type { PinoLogger } from "@llmq/config";
import type { ModelsConfig } from "@llmq/core";
import { type ApiKeyRepository, type BatchRepository, CredentialRepository, type Database, type FileRepository, RefreshTokenRepository, type TaskRepository, TaskStatsRepository, UserRepository } from "@llmq/db";
import { type BatchJobs, CredentialChanges, StreamLeases, type KeySpace, type RedisConnection, type RedisStats, TaskEventHub, TaskEventLog, type TaskQueues, type TaskUpdates, type TokenUsage, type WebhookJobs } from "@llmq/queue";
import { targetPolicyOf } from "@llmq/webhooks";
import type { TaskEngine } from "@llmq/engine";
import { createRuntime } from "@llmq/runtime";
import { AccessTokens } from "./auth/access-tokens";
import { AuthService } from "./auth/auth-service";
import { ApiKeyCache } from "./auth/api-key-cache";
import { StreamGuard } from "./auth/stream-guard";
import { BatchService } from "./services/batch-service";
import type { ApiEnv } from "./env";
import { TaskFeed } from "./feed/task-feed";
import { DEFAULT_FAIR_SHARE_WEIGHT, type Limits } from "./services/limits";
import { TaskService } from "./services/task-service";
import { WebhookService } from "./services/webhook-service";
import { IdempotencyService } from "./services/idempotency-service";
import { NativeBatchParser } from "./native-batches/batch-parser";
import { OpenStreams } from "./services/open-streams";
import { UpstreamStatus } from "./services/upstream-status";
import { QueueEstimator } from "./services/queue-estimate";

/** A process that dies frees its stream leases after this long (renewed every third of it while open). */
const STREAM_LEASE_MS = 60_000;

/** Everything the HTTP app needs, built once per process (or per test). */
export interface AppDeps {
  env: Pick<
    ApiEnv,
    | "ADMIN_API_KEY"
    | "WAIT_DEFAULT_SECONDS"
    | "WAIT_MAX_SECONDS"
    | "BODY_LIMIT"
    | "BATCH_BODY_LIMIT"
    | "RATE_LIMIT_PER_MINUTE"
    | "FILES_MAX_BYTES"
    | "FILES_MAX_PER_USER"
    | "FILES_MAX_TOTAL_BYTES_PER_USER"
    | "FILES_UPLOADS_PER_MINUTE"
    | "FILE_RETENTION_DAYS"
    | "TASK_RETENTION_DAYS"
    | "AUTH_JWT_SECRET"
    | "ACCESS_TOKEN_TTL_SECONDS"
    | "REFRESH_TOKEN_TTL_SECONDS"
    | "LOGIN_RATE_LIMIT_PER_MINUTE"
    | "LOGIN_RATE_LIMIT_PER_EMAIL_PER_MINUTE"
    | "WEBHOOK_ALLOWED_CIDRS"
    | "WEBHOOK_ALLOWED_PORTS"
    | "TASK_QUEUE_TTL_SECONDS"
    | "TASK_TIMEOUT_SECONDS"
    | "MAX_CONCURRENT_TASKS_PER_KEY"
    | "TOKENS_PER_DAY_PER_KEY"
    | "MAX_OPEN_BATCHES_PER_USER"
    | "DASHBOARD_DIR"
    | "CORS_ORIGINS"
    | "TRUST_PROXY"
    | "METRICS_TOKEN"
    | "SLOW_REQUEST_MS"
    | "API_KEY_CACHE_SECONDS"
    | "STREAM_CREDENTIAL_CHECK_SECONDS"
    | "SSE_STALLED_READER_MS"
    | "CANCELLED_OUTPUT_WAIT_MS"
    | "MAX_OPEN_STREAMS_PER_KEY"
    | "MAX_OPEN_STREAMS_PER_PROCESS"
  >;
  /** The process logger (pino: the request log takes it as it is). */
  logger: PinoLogger;
  db: Database;
  redis: RedisConnection;
  /**
   * The connection BullMQ's queues use (the producers', Bull Board's): BullMQ defines its ~80 scripts on
   * a connection it is given, and ioredis copies them onto every pipeline of that connection (~19 KB
   * each, one per auto-pipelined round trip), so they are kept off every other connection.
   */
  jobsRedis: RedisConnection;
  /** The process's Redis commands and writes when REDIS_STATS=1 (served on /metrics), else null. */
  redisStats: RedisStats | null;
  keys: KeySpace;
  models: ModelsConfig;
  tasks: TaskRepository;
  taskStats: TaskStatsRepository;
  apiKeys: ApiKeyRepository;
  /** Resolved API keys, dropped at every credential change in every process. */
  apiKeyCache: ApiKeyCache;
  users: UserRepository;
  auth: AuthService;
  files: FileRepository;
  batches: BatchRepository;
  batchJobs: BatchJobs;
  batchService: BatchService;
  /** Reads `POST /v1/ai/batches` bodies in a worker thread. */
  batchParser: NativeBatchParser;
  queues: TaskQueues;
  /** Each model's upstreams in its run queue (GET /v1/admin/upstreams, /metrics). */
  upstreamStatus: UpstreamStatus;
  /** Place and ETA of waiting tasks, one for both dialects (its mean run times are cached once). */
  queueEstimator: QueueEstimator;
  log: TaskEventLog;
  hub: TaskEventHub;
  updates: TaskUpdates;
  /** Live task list of this process's SSE clients (`GET /v1/ai/tasks/updates`). */
  feed: TaskFeed;
  /** Ends this process's open streams whose key, user or token no longer grants them. */
  streamGuard: StreamGuard;
  /** Slots of open streams and synchronous waits: the process ceiling and each key's and user's max_open_streams. */
  openStreams: OpenStreams;
  /** Their leases in Redis (given back at shutdown). */
  streamLeases: StreamLeases;
  /** The only writer of task and batch state (with its listeners registered). */
  engine: TaskEngine;
  taskService: TaskService;
  /** Daily token counters per user and key. */
  tokenUsage: TokenUsage;
  /** The deployment's limits for keys without their own (and users without keys). */
  limitDefaults: Limits;
  webhookJobs: WebhookJobs;
  webhookService: WebhookService;
  idempotency: IdempotencyService;
}

export interface Connections {
  db: Database;
  /** Commands (fail fast while Redis is down). */
  redis: RedisConnection;
  /** Queue producer connection: the run queues and the engine's event appends. */
  queueRedis: RedisConnection;
  /** BullMQ's queues (producers, Bull Board): its scripts are defined there and on no other connection. */
  jobsRedis: RedisConnection;
  /** Pub/sub subscriber for task event notifications. */
  subscriber: RedisConnection;
  /** Counts the four connections' traffic (REDIS_STATS=1). */
  redisStats?: RedisStats;
}

/** Wires the API's services over the runtime both processes share (`@llmq/runtime`), on already-open connections. */
export function buildDeps(env: AppDeps["env"], models: ModelsConfig, keys: KeySpace, connections: Connections, logger: PinoLogger): AppDeps {
  const { db, redis } = connections;
  const runtime = createRuntime(connections, { keys, models, logger });
  const { tasks, queues, batches, apiKeys, files, batchJobs, webhookJobs, tokenUsage, engine } = runtime;
  // Readers of task streams (SSE relays, waits) use the commands connection, not the producers'.
  const log = new TaskEventLog(redis, keys);
  const hub = new TaskEventHub(connections.subscriber, log, keys);
  const feed = new TaskFeed({ tasks, logger });
  const webhookService = new WebhookService({ deliveries: runtime.deliveries, secrets: runtime.webhookSecrets, jobs: webhookJobs, policy: targetPolicyOf(env), grants: apiKeys });
  const limitDefaults: Limits = { rateLimitPerMinute: env.RATE_LIMIT_PER_MINUTE, maxConcurrentTasks: env.MAX_CONCURRENT_TASKS_PER_KEY, tokensPerDay: env.TOKENS_PER_DAY_PER_KEY, maxOpenStreams: env.MAX_OPEN_STREAMS_PER_KEY, fairShareWeight: DEFAULT_FAIR_SHARE_WEIGHT };
  const taskService = new TaskService({
    tasks,
    transitions: engine.tasks,
    queues,
    hub,
    models,
    tokenUsage,
    policy: { queueTtlSeconds: env.TASK_QUEUE_TTL_SECONDS, timeoutSeconds: env.TASK_TIMEOUT_SECONDS },
    cancelledOutputWaitMs: env.CANCELLED_OUTPUT_WAIT_MS,
    logger,
  });
  const batchService = new BatchService({
    batches,
    tasks,
    files,
    batchJobs,
    models,
    taskService,
    engine,
    tokenUsage,
    maxOpenBatchesPerUser: env.MAX_OPEN_BATCHES_PER_USER,
    logger,
  });
  const users = new UserRepository(db);
  const auth = new AuthService({
    users,
    refreshTokens: new RefreshTokenRepository(db),
    accessTokens: new AccessTokens(env.AUTH_JWT_SECRET, env.ACCESS_TOKEN_TTL_SECONDS),
    refreshTtlSeconds: env.REFRESH_TOKEN_TTL_SECONDS,
    limitDefaults,
    logger,
  });
  const credentialChanges = new CredentialChanges(redis, keys, (error) => logger.warn({ err: error }, "could not announce a credential change; other processes see it at their next check"));
  const apiKeyCache = new ApiKeyCache({ lookup: (keyHash) => apiKeys.findActiveByHash(keyHash), ttlMs: env.API_KEY_CACHE_SECONDS * 1000, epoch: () => credentialChanges.epoch() });
  const streamGuard = new StreamGuard({
    onChange: () => apiKeyCache.clear(),
    credentials: new CredentialRepository(db),
    changes: credentialChanges,
    logger,
    checkIntervalMs: env.STREAM_CREDENTIAL_CHECK_SECONDS * 1000,
    stalledReaderMs: env.SSE_STALLED_READER_MS,
  });
  const streamLeases = new StreamLeases(redis, keys, {
    leaseMs: STREAM_LEASE_MS,
    onError: (error) => logger.warn({ err: error }, "could not renew or give back open-stream leases; they expire on their own"),
  });
  const openStreams = new OpenStreams({ leases: streamLeases, maxPerProcess: env.MAX_OPEN_STREAMS_PER_PROCESS });
  return {
    env,
    logger,
    db,
    redis,
    jobsRedis: connections.jobsRedis,
    redisStats: connections.redisStats ?? null,
    keys,
    models,
    tasks,
    taskStats: new TaskStatsRepository(db),
    apiKeys,
    apiKeyCache,
    users,
    auth,
    files,
    batches,
    batchJobs,
    batchService,
    batchParser: new NativeBatchParser(models),
    queues,
    upstreamStatus: new UpstreamStatus(redis, keys.root, models),
    queueEstimator: new QueueEstimator(queues, models),
    log,
    hub,
    updates: runtime.updates,
    feed,
    engine,
    streamGuard,
    openStreams,
    streamLeases,
    taskService,
    tokenUsage,
    limitDefaults,
    webhookJobs,
    webhookService,
    idempotency: new IdempotencyService(runtime.idempotency),
  };
}
