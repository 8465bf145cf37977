import type { Logger, ModelsConfig } from "@llmq/core";
import {
  ApiKeyRepository,
  BatchRepository,
  type Database,
  FileRepository,
  IdempotencyRepository,
  TaskRepository,
  WebhookDeliveryRepository,
  WebhookSecretRepository,
} from "@llmq/db";
import { TaskEngine, registerListeners } from "@llmq/engine";
import { BATCH_QUEUE, BatchJobs, WEBHOOK_QUEUE, type KeySpace, type RedisConnection, TaskEventLog, TaskQueues, TaskUpdates, TokenUsage, WebhookJobs } from "@llmq/queue";
import { WebhookNotifier } from "@llmq/webhooks";

/** Connections a process opened (each app sizes and names its own); the runtime only wires over them. */
export interface RuntimeConnections {
  db: Database;
  /** Commands: live-list announcements, token counters, cancel signals. */
  redis: RedisConnection;
  /**
   * Producers: jobs and the engine's event appends. One connection for both, so a new task's PENDING
   * event is written before its job exists.
   */
  queueRedis: RedisConnection;
  /**
   * BullMQ's producers (batch ingestion, webhook deliveries); default `queueRedis`. BullMQ defines its ~80
   * scripts on the connection it is given and ioredis copies them onto every pipeline of that connection
   * (~19 KB each, one per auto-pipelined round trip), so a process gives them a connection of their own.
   */
  jobsRedis?: RedisConnection;
}

export interface RuntimeOptions {
  keys: KeySpace;
  models: ModelsConfig;
  logger: Logger;
}

/** What both processes run on: the repositories and producers they share, and the engine over them. */
export interface Runtime {
  tasks: TaskRepository;
  batches: BatchRepository;
  files: FileRepository;
  apiKeys: ApiKeyRepository;
  deliveries: WebhookDeliveryRepository;
  webhookSecrets: WebhookSecretRepository;
  idempotency: IdempotencyRepository;
  /** Producers for every model's queue. */
  queues: TaskQueues;
  batchJobs: BatchJobs;
  webhookJobs: WebhookJobs;
  /** The engine's event streams (on the producer connection). */
  events: TaskEventLog;
  /** Announces state changes to every API process's live task lists. */
  updates: TaskUpdates;
  /** Daily token counters per user and key. */
  tokenUsage: TokenUsage;
  webhooks: WebhookNotifier;
  /** The only writer of task and batch state, its listeners registered (once, here). */
  engine: TaskEngine;
  /** Closes the queue producers; call after `engine.close()`, before closing the connections. */
  closeQueues(): Promise<void>;
}

/**
 * Wires repositories, queue producers, the event log, webhooks and the task engine with its listeners
 * over open connections. The API and the worker both call it, so their wiring cannot drift apart.
 */
export function createRuntime(connections: RuntimeConnections, options: RuntimeOptions): Runtime {
  const { db, redis, queueRedis } = connections;
  const { keys, models, logger } = options;
  const tasks = new TaskRepository(db);
  const batches = new BatchRepository(db);
  const deliveries = new WebhookDeliveryRepository(db);
  const queues = new TaskQueues(queueRedis, keys.root, models.models);
  const jobsRedis = connections.jobsRedis ?? queueRedis;
  const batchJobs = new BatchJobs(jobsRedis, keys.bull(BATCH_QUEUE));
  const webhookJobs = new WebhookJobs(jobsRedis, keys.bull(WEBHOOK_QUEUE));
  const events = new TaskEventLog(queueRedis, keys);
  const updates = new TaskUpdates(redis, keys, (error) => logger.warn({ err: error }, "could not publish task updates"));
  const tokenUsage = new TokenUsage(redis, keys);
  const webhooks = new WebhookNotifier({ deliveries, jobs: webhookJobs, tasks, batches, logger });
  const engine = new TaskEngine({ tasks, batches, queues, log: events, logger });
  registerListeners(engine, { updates, webhooks, tokenUsage, batches, redis, keys });
  return {
    tasks,
    batches,
    files: new FileRepository(db),
    apiKeys: new ApiKeyRepository(db),
    deliveries,
    webhookSecrets: new WebhookSecretRepository(db),
    idempotency: new IdempotencyRepository(db),
    queues,
    batchJobs,
    webhookJobs,
    events,
    updates,
    tokenUsage,
    webhooks,
    engine,
    closeQueues: async () => {
      await Promise.all([queues.close(), batchJobs.close(), webhookJobs.close()]);
    },
  };
}
