import { type Logger, type ModelsConfig } from "@llmq/core";
import { ApiKeyRepository, BatchRepository, type Database, FileRepository, TaskRepository, UserRepository, WebhookDeliveryRepository, WebhookSecretRepository } from "@llmq/db";
import { BatchJobs, type KeySpace, type RedisConnection, TaskEventHub, TaskEventLog, TaskQueues, WebhookJobs } from "@llmq/queue";
import { WebhookNotifier } from "@llmq/webhooks";
import { BatchService } from "./services/batch-service";
import type { ApiEnv } from "./env";
import { TaskService } from "./services/task-service";
import { WebhookService } from "./services/webhook-service";

/** Everything the HTTP app needs, built once per process (or per test). */
export interface AppDeps {
  env: Pick<ApiEnv, "ADMIN_API_KEY" | "WAIT_DEFAULT_SECONDS" | "WAIT_MAX_SECONDS" | "BODY_LIMIT" | "BATCH_BODY_LIMIT" | "RATE_LIMIT_PER_MINUTE" | "FILES_MAX_BYTES" | "WEBHOOK_ALLOWED_CIDRS" | "CORS_ORIGINS">;
  logger: Logger;
  db: Database;
  redis: RedisConnection;
  keys: KeySpace;
  models: ModelsConfig;
  tasks: TaskRepository;
  apiKeys: ApiKeyRepository;
  users: UserRepository;
  files: FileRepository;
  batches: BatchRepository;
  batchJobs: BatchJobs;
  batchService: BatchService;
  queues: TaskQueues;
  log: TaskEventLog;
  hub: TaskEventHub;
  taskService: TaskService;
  webhookJobs: WebhookJobs;
  webhookService: WebhookService;
}

export interface Connections {
  db: Database;
  /** Commands (fail fast while Redis is down). */
  redis: RedisConnection;
  /** Queue producer connection. */
  queueRedis: RedisConnection;
  /** Pub/sub subscriber for task event notifications. */
  subscriber: RedisConnection;
}

/** Wires repositories and services over already-open connections. */
export function buildDeps(env: AppDeps["env"], models: ModelsConfig, keys: KeySpace, connections: Connections, logger: Logger): AppDeps {
  const { db, redis } = connections;
  const tasks = new TaskRepository(db);
  const queues = new TaskQueues(connections.queueRedis, keys.bull, models.models);
  const log = new TaskEventLog(redis, keys);
  const hub = new TaskEventHub(connections.subscriber, log, keys);
  const batches = new BatchRepository(db);
  const deliveries = new WebhookDeliveryRepository(db);
  const webhookJobs = new WebhookJobs(connections.queueRedis, keys.bull);
  const webhooks = new WebhookNotifier({ deliveries, jobs: webhookJobs, tasks, batches, logger });
  const webhookService = new WebhookService({ deliveries, secrets: new WebhookSecretRepository(db), jobs: webhookJobs, policy: env.WEBHOOK_ALLOWED_CIDRS });
  const taskService = new TaskService({ tasks, queues, log, hub, models, redis, keys, webhooks, logger });
  const files = new FileRepository(db);
  const batchJobs = new BatchJobs(connections.queueRedis, keys.bull);
  const batchService = new BatchService({ batches, tasks, files, batchJobs, queues, log, models, taskService, webhooks, logger });
  return {
    env,
    logger,
    db,
    redis,
    keys,
    models,
    tasks,
    apiKeys: new ApiKeyRepository(db),
    users: new UserRepository(db),
    files,
    batches,
    batchJobs,
    batchService,
    queues,
    log,
    hub,
    taskService,
    webhookJobs,
    webhookService,
  };
}
