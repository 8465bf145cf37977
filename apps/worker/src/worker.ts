import type { Logger } from "@llmq/core";
import { memoisedClose } from "@llmq/core";
import { createLogger, loadModelsFile } from "@llmq/config";
import { RetentionRepository, createDatabase } from "@llmq/db";
import { type Provider, createProvider } from "@llmq/providers";
import { randomUUID } from "node:crypto";
import { BATCH_QUEUE, IngestLeases, WEBHOOK_QUEUE, WorkerLiveness, RedisStats, closeRedis, countRedisTraffic, createRedis, keySpace, redisTargetOf, subscribeCancels } from "@llmq/queue";
import { createWebhookDeliveryProcessor, targetPolicyOf } from "@llmq/webhooks";
import { createRuntime } from "@llmq/runtime";
import { createBatchIngestProcessor } from "./batch-ingest-processor";
import type { WorkerEnv } from "./env";
import { FinalDeliveryScan } from "./final-delivery-scan";
import { sweepOnce, startSweeper } from "./sweeper";
import { startHeartbeat } from "./heartbeat";
import { createTextCompletionProcessor } from "./text-completion-processor";
import { UpstreamSlots } from "./upstream-slots";
import { WorkerPool } from "./worker-pool";
import { DispatchLoop } from "./dispatch-loop";
import { serveMetrics } from "./metrics/metrics-server";
import { WorkerMetrics } from "./metrics/worker-metrics";

export interface RunningWorker {
  /** BullMQ Workers of batch ingestion and webhook deliveries. */
  pool: WorkerPool;
  /** One dispatch loop per served model: its completion tasks, from the model's run queue. */
  loops: ReadonlyMap<string, DispatchLoop>;
  /** This process's lease holder id in the run queues. */
  workerId: string;
  logger: Logger;
  /** Where this worker serves GET /metrics (WORKER_METRICS_PORT), or null. */
  metricsUrl: string | null;
  /** One sweeper round now (tests, operators). */
  sweep(): ReturnType<typeof sweepOnce>;
  /** Idempotent graceful stop within SHUTDOWN_TIMEOUT_MS. */
  close(): Promise<void>;
}

/**
 * Connects, starts a dispatch loop per served model (completion tasks, from its run queue), BullMQ
 * Workers for batch ingestion and webhooks, the heartbeat and the sweeper. Used by main.ts and by tests.
 */
export async function startWorker(env: WorkerEnv, processEnv: NodeJS.ProcessEnv = {}): Promise<RunningWorker> {
  const logger = createLogger({ name: "worker", level: env.LOG_LEVEL, format: env.LOG_FORMAT });
  const models = loadModelsFile(env.MODELS_FILE, processEnv);
  const wanted = env.WORKER_MODELS === "all" ? null : new Set(env.WORKER_MODELS.split(",").map((id) => id.trim()));
  const served = models.models.filter((model) => !wanted || wanted.has(model.id));
  const unknown = wanted ? [...wanted].filter((id) => !models.byId.has(id)) : [];
  if (unknown.length > 0 || served.length === 0) {
    throw new Error(`WORKER_MODELS names models that are not in ${env.MODELS_FILE}: ${unknown.join(", ") || "(none served)"}`);
  }

  // A connection for every job this process may run at once, its ingests and the sweeper: a statement of
  // the engine's batches never waits for a connection behind a slow one (at most 64 per process).
  const poolSize = Math.min(64, served.reduce((sum, model) => sum + model.concurrency, 0) + env.BATCH_INGEST_CONCURRENCY + 2);
  const db = createDatabase({ databaseUrl: env.DATABASE_URL, poolSize });
  const keys = keySpace(env.REDIS_PREFIX);
  const stats = env.REDIS_STATS ? new RedisStats() : undefined;
  const redisTarget = redisTargetOf(env);
  const connection = createRedis(redisTarget, { blocking: true, name: "worker", stats });
  // Never blocks, so concurrent jobs' commands (events, live lists, usage, jobs) share writes.
  const commands = createRedis(redisTarget, { blocking: true, name: "worker-commands", stats, autoPipeline: true });
  // BullMQ's producers (batch ingestion, webhooks): its scripts are defined on this one, so the pipelines
  // of `commands` (one per round trip) do not copy them (RuntimeConnections.jobsRedis).
  const jobsRedis = createRedis(redisTarget, { blocking: true, name: "worker-jobs", stats, autoPipeline: true });
  const cancelSubscriber = createRedis(redisTarget, { blocking: true, name: "worker-cancels", stats });
  // Fails fast while Redis is down, so a beat is never queued and sent late.
  const livenessRedis = createRedis(redisTarget, { name: "worker-liveness", stats });
  // The wiring the API shares: repositories, producers for every model (the sweeper re-enqueues and batch
  // ingestion enqueues to any of them), the event log, and the engine with its listeners, registered once.
  const runtime = createRuntime({ db, redis: commands, queueRedis: commands, jobsRedis }, { keys, models, logger });
  const { tasks, batches, queues, batchJobs, deliveries, webhookJobs, webhooks, tokenUsage, engine } = runtime;
  const metrics = new WorkerMetrics();
  metrics.countEndedTasks(engine.bus, models);
  if (stats) countRedisTraffic(metrics.registry, stats);
  const metricsServer = env.WORKER_METRICS_PORT === undefined ? null : await serveMetrics(metrics.registry, env.WORKER_METRICS_PORT, env.WORKER_METRICS_HOST);
  // Each upstream of each model keeps its own pool of connections, no larger than the model's concurrency
  // nor the upstream's max_concurrency (the run queue never has more in flight on it, over every worker).
  // The models whose upstreams this process calls: those it serves, and their fallbacks (borrowed when a
  // served model's upstreams are all out), even those it does not serve itself.
  const servedIds = new Set(served.map((model) => model.id));
  const runsOn = [...served, ...models.models.filter((model) => !servedIds.has(model.id) && served.some((s) => s.fallbacks.includes(model.id)))];
  const upstreams = runsOn.flatMap((model) =>
    model.upstreams.map((upstream) => ({
      model,
      upstream,
      provider: createProvider(upstream.provider, { connections: Math.min(model.concurrency, upstream.maxConcurrency ?? Infinity) }),
    })),
  );
  const providers = new Map<string, Map<string, Provider>>(runsOn.map((model) => [model.id, new Map()]));
  for (const { model, upstream, provider } of upstreams) providers.get(model.id)!.set(upstream.name, metrics.instrumentProvider(model.id, provider, upstream.name));
  // A model's concurrency bounds its upstream requests, not only its tasks: a task of n choices takes n slots.
  const upstreamSlots = new Map(served.map((model) => [model.id, new UpstreamSlots(model.concurrency)]));

  // Completion tasks: one dispatch loop per served model, leasing from the model's run queue.
  const workerId = `w-${randomUUID()}`;
  const runTask = createTextCompletionProcessor({
    engine,
    models,
    providers,
    checkpointIntervalMs: env.CHECKPOINT_INTERVAL_MS,
    confirmAfterMs: Math.min(env.LOCK_DURATION_MS, env.WORKER_DEAD_AFTER_MS) / 2,
    logger,
    upstreamSlots,
    upstreams: (model) => queues.runQueue(model.queueName).upstreams,
    metrics,
  });
  const blockingConnections = served.map((model) => createRedis(redisTarget, { blocking: true, name: `worker-dispatch-${model.id}`, stats }));
  const loops = new Map(
    served.map((model, index) => [
      model.id,
      new DispatchLoop({
        queue: queues.runQueue(model.queueName),
        blocking: blockingConnections[index]!,
        workerId,
        concurrency: model.concurrency,
        // Each task is leased with an upstream that has room for it (capacity, pauses, breakers: the run queue's).
        upstreams: model.upstreams,
        leaseMs: env.LOCK_DURATION_MS,
        run: metrics.instrumentRun(model.id, runTask),
        onLeased: (task) => metrics.leased(model.id, task),
        modelId: model.id,
        fallbacks: model.fallbacks.flatMap((id) => {
          const fallback = models.byId.get(id);
          return fallback ? [{ model: fallback, queue: queues.runQueue(fallback.queueName) }] : [];
        }),
        onFallback: (fallback, outcome) => metrics.fallback(model.id, fallback, outcome),
        logger,
      }),
    ]),
  );
  await subscribeCancels(cancelSubscriber, keys, (taskId) => {
    for (const loop of loops.values()) loop.cancel(taskId, "cancelled by the client");
  });
  for (const loop of loops.values()) loop.start();

  const pool = await WorkerPool.start({
    queues: [
      {
        name: BATCH_QUEUE,
        concurrency: env.BATCH_INGEST_CONCURRENCY,
        processor: createBatchIngestProcessor({
          batches,
          engine,
          files: runtime.files,
          models,
          tokenUsage,
          // A lease outlives a pause of its worker's renewals by a few seconds; a dead worker's goes with it.
          leases: new IngestLeases(commands, keys, { perOwner: 1, leaseMs: env.LOCK_DURATION_MS }),
          maxLineBytes: env.BODY_LIMIT,
          logger,
        }),
      },
      {
        name: WEBHOOK_QUEUE,
        concurrency: env.WEBHOOK_CONCURRENCY,
        processor: createWebhookDeliveryProcessor({
          deliveries,
          secrets: runtime.webhookSecrets,
          jobs: webhookJobs,
          policy: targetPolicyOf(env),
          grants: runtime.apiKeys,
          timeoutMs: env.WEBHOOK_TIMEOUT_MS,
          retryDelaysMs: env.WEBHOOK_RETRY_DELAYS_MS,
          logger,
        }),
      },
    ],
    connection,
    cancelSubscriber,
    keys,
    lockDurationMs: env.LOCK_DURATION_MS,
    stalledIntervalMs: env.STALLED_INTERVAL_MS,
    logger,
  });
  const stopHeartbeat = startHeartbeat(pool.workers, new WorkerLiveness(livenessRedis, keys, env.WORKER_DEAD_AFTER_MS), env.WORKER_DEAD_AFTER_MS, logger, {
    workerId,
    // The fallbacks' queues too: this process's borrows there end when its beats stop.
    queues: runsOn.map((model) => queues.runQueue(model.queueName)),
  });
  const sweeperDeps = {
    tasks,
    batches,
    engine,
    batchJobs,
    queues,
    tokenUsage,
    webhooks,
    deliveries,
    finalDeliveries: new FinalDeliveryScan(env.SWEEP_WEBHOOK_PASS_MS),
    openTasks: { after: "" },
    webhookJobs,
    idempotency: runtime.idempotency,
    servedQueues: new Set(served.map((m) => m.queueName)),
    staleAfterMs: env.SWEEP_AFTER_MS,
    responseRetentionHours: env.RESPONSE_RETENTION_HOURS,
    retention: new RetentionRepository(db),
    retentionPolicy: { taskDays: env.TASK_RETENTION_DAYS, fileDays: env.FILE_RETENTION_DAYS },
    events: runtime.events,
    metrics,
    logger,
  };
  const stopSweeper = startSweeper(sweeperDeps, env.SWEEP_INTERVAL_MS);
  logger.info({ queues: served.map((m) => `${m.queueName} x${m.concurrency}`), metrics: metricsServer?.url }, "worker ready");

  const close = memoisedClose(
    [
      ["sweeper", stopSweeper],
      ["workers", () => Promise.all([pool.close(env.SHUTDOWN_TIMEOUT_MS), ...[...loops.values()].map((loop) => loop.close(env.SHUTDOWN_TIMEOUT_MS))]), env.SHUTDOWN_TIMEOUT_MS + 5_000],
      // After the drain: whatever is still active is left over, and peers may take it at once.
      ["heartbeat", stopHeartbeat],
      ["engine", () => engine.close()],
      // Waits for requests still in flight, so bounded: a drain that timed out may have left some.
      ["upstream connections", () => Promise.all(upstreams.map(({ provider }) => provider.close?.())), 5_000],
      ["queues", () => runtime.closeQueues()],
      ["redis", () => Promise.all([connection, commands, jobsRedis, cancelSubscriber, livenessRedis, ...blockingConnections].map(closeRedis))],
      ["postgres", () => db.$disconnect()],
      ["metrics", async () => metricsServer?.close()],
      ["log", async () => logger.info("worker stopped")],
    ],
    logger,
  );
  return { pool, loops, workerId, logger, metricsUrl: metricsServer?.url ?? null, sweep: () => sweepOnce(sweeperDeps), close };
}
