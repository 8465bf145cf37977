import type { ModelsConfig } from "@llmq/core";
import type { TaskStatsRepository } from "@llmq/db";
import { type EngineBus, onTaskEnded } from "@llmq/engine";
import { type QueueCounts, type RedisStats, type TaskQueues, type UpstreamSnapshot, type UpstreamState, countRedisTraffic } from "@llmq/queue";
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { UpstreamStatus } from "../services/upstream-status";
import { methodLabel } from "./route-label";

export interface ApiMetricsDeps {
  models: ModelsConfig;
  taskStats: TaskStatsRepository;
  queues: TaskQueues;
  /** Each model's upstreams (one SNAPSHOT per model per scrape); absent: no upstream gauges. */
  upstreams?: Pick<UpstreamStatus, "snapshot">;
  /** This process's engine bus: the tasks it ends are counted (llmq_tasks_ended_total); absent: not counted. */
  engineBus?: EngineBus;
  /** How long one count of the open tasks serves scrapes (default 15 s). */
  taskCountsTtlMs?: number;
  /** REDIS_STATS=1: the process's Redis traffic, served as llmq_redis_sent_total. */
  redisStats?: RedisStats | null;
  /** Open streams and synchronous waits of this process, and its ceiling (0: none). */
  openStreams?: { size(): number; ceiling: number };
}

const TASK_COUNTS_TTL_MS = 15_000;

/**
 * `load` at most once per `ttlMs` after it last finished; callers meanwhile, and while it runs, share
 * its promise (single flight). A failure is not kept: the next caller tries again.
 */
function cachedFor<T>(ttlMs: number, load: () => Promise<T>): () => Promise<T> {
  let entry: { value: Promise<T>; settledAt: number | null } | null = null;
  return () => {
    if (entry && (entry.settledAt === null || Date.now() - entry.settledAt < ttlMs)) return entry.value;
    const current: { value: Promise<T>; settledAt: number | null } = { value: load(), settledAt: null };
    entry = current;
    current.value.then(
      () => (current.settledAt = Date.now()),
      () => entry === current && (entry = null),
    );
    return current.value;
  };
}

const QUEUE_STATES = ["waiting", "active", "delayed", "failed"] as const satisfies readonly (keyof QueueCounts)[];
const UPSTREAM_STATES = ["ok", "paused", "open", "half_open"] as const satisfies readonly UpstreamState[];
/** The upstream gauges of one scrape share one reading (prom-client collects them together). */
const UPSTREAM_READING_TTL_MS = 1_000;

/**
 * The API process's metrics, on a registry of its own (tests run several apps in one process).
 * Open tasks by status and queue depths are read from Postgres and Redis, not kept in memory, so every API
 * process reports the same shared truth. The open counts (tasks_open_idx: the open tasks, not the
 * history) are read at most once per `taskCountsTtlMs` however often or concurrently Prometheus scrapes;
 * finished tasks are counted by the process that ends them (llmq_tasks_ended_total); queue
 * depths (a few Redis commands per model) at every scrape. Worker-side histograms (queue wait, time to
 * first token, duration, provider errors) are served by each worker on WORKER_METRICS_PORT.
 */
export function createApiMetrics(deps: ApiMetricsDeps) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 10 });

  const httpDuration = new Histogram({
    name: "llmq_http_request_duration_seconds",
    help: "HTTP request latency by route pattern (SSE streams: until the stream closed)",
    labelNames: ["method", "route", "status"] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [registry],
  });
  const requests = new Counter({
    name: "llmq_http_requests_total",
    help: "HTTP requests answered, by route pattern and status",
    labelNames: ["method", "route", "status"] as const,
    registers: [registry],
  });

  const openCounts = cachedFor(deps.taskCountsTtlMs ?? TASK_COUNTS_TTL_MS, () => deps.taskStats.openCountsByModelAndStatus());
  new Gauge({
    name: "llmq_tasks_open",
    help: "Open tasks (PENDING, RUNNING) in Postgres by model and status, exactly (counted at most every 15 s)",
    labelNames: ["model", "status"] as const,
    registers: [registry],
    // Every API process reads the same table: merged across a cluster's processes, one reading stands.
    aggregator: "first",
    async collect() {
      const counts = await openCounts();
      this.reset();
      for (const { model, status, count } of counts) this.set({ model, status }, count);
    },
  });
  if (deps.engineBus) {
    // Finished tasks as this process ends them (a worker's metrics count what it ends: sum over processes).
    const ended = new Counter({
      name: "llmq_tasks_ended_total",
      help: "Tasks this process ended, by model and final status: sum over every API and worker process",
      labelNames: ["model", "status"] as const,
      registers: [registry],
    });
    onTaskEnded(deps.engineBus, deps.models, (model, status) => ended.inc({ model, status }));
  }

  new Gauge({
    name: "llmq_queue_jobs",
    help: "Jobs in each BullMQ queue by state (read at scrape time)",
    labelNames: ["queue", "model", "state"] as const,
    registers: [registry],
    aggregator: "first",
    async collect() {
      this.reset();
      const queues = deps.models.models.map(async (model) => ({ queue: model.queueName, model: model.id, counts: await deps.queues.counts(model.queueName) }));
      for (const { queue, model, counts } of await Promise.all(queues)) {
        for (const state of QUEUE_STATES) this.set({ queue, model, state }, counts[state]);
      }
    },
  });

  if (deps.upstreams) upstreamGauges(registry, deps.upstreams);

  const { openStreams } = deps;
  if (openStreams) {
    new Gauge({
      name: "llmq_open_streams",
      help: "Open streams (SSE) and synchronous requests waiting for their task in this API process",
      registers: [registry],
      collect() {
        this.set(openStreams.size());
      },
    });
    new Gauge({ name: "llmq_open_streams_ceiling", help: "MAX_OPEN_STREAMS_PER_PROCESS of this API process (0: none)", registers: [registry] }).set(openStreams.ceiling);
  }

  if (deps.redisStats) countRedisTraffic(registry, deps.redisStats);

  const overhead = new Histogram({
    name: "llmq_overhead_seconds",
    help: "Time a completion spent in the service outside the upstream call (x-llmq-overhead-ms), by route pattern",
    labelNames: ["route"] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    registers: [registry],
  });

  /** Each (method, route, status) once: its histogram and counter children bound, so a request does not hash labels. */
  const bound = new Map<string, { duration: ReturnType<typeof httpDuration.labels>; count: ReturnType<typeof requests.labels> }>();
  const boundOverhead = new Map<string, ReturnType<typeof overhead.labels>>();

  return {
    registry,
    /** Records one answered request (`method` as received: methodLabel bounds it). */
    observeRequest(method: string, route: string, status: number, seconds: number): void {
      const key = `${method} ${route} ${status}`;
      let series = bound.get(key);
      if (!series) {
        const labels = { method: methodLabel(method), route, status: String(status) };
        series = { duration: httpDuration.labels(labels), count: requests.labels(labels) };
        bound.set(key, series);
      }
      series.duration.observe(seconds);
      series.count.inc();
    },
    /** Records a completion's time in the service outside its upstream call. */
    observeOverhead(route: string, seconds: number): void {
      let series = boundOverhead.get(route);
      if (!series) boundOverhead.set(route, (series = overhead.labels({ route })));
      series.observe(seconds);
    },
  };
}

/**
 * Gauges per (model, upstream), read from the run queue when scraped: its state (one series per state,
 * 1 for the current one), requests in flight, and requests and tokens in the current sliding minute.
 * One read-only SNAPSHOT per model per scrape, shared by the four gauges; its cost is bounded by the
 * number of upstreams, not by the queues' length.
 */
function upstreamGauges(registry: Registry, upstreams: Pick<UpstreamStatus, "snapshot">): void {
  const reading = cachedFor(UPSTREAM_READING_TTL_MS, () => upstreams.snapshot());
  const gauge = (name: string, help: string, value: (snapshot: UpstreamSnapshot) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ["model", "upstream"] as const,
      registers: [registry],
      aggregator: "first",
      async collect() {
        const models = await reading();
        this.reset();
        for (const { model, upstreams: ups } of models) for (const { snapshot } of ups) this.set({ model: model.id, upstream: snapshot.name }, value(snapshot));
      },
    });
  new Gauge({
    name: "llmq_upstream_state",
    help: "Each upstream's state: 1 for the current one of ok, paused (429 or quota), open (circuit breaker), half_open (one probe)",
    labelNames: ["model", "upstream", "state"] as const,
    registers: [registry],
    aggregator: "first",
    async collect() {
      const models = await reading();
      this.reset();
      for (const { model, upstreams: ups } of models) {
        for (const { snapshot } of ups) for (const state of UPSTREAM_STATES) this.set({ model: model.id, upstream: snapshot.name, state }, snapshot.state === state ? 1 : 0);
      }
    },
  });
  gauge("llmq_upstream_in_flight", "Requests running on each upstream now, over every worker", (s) => s.inFlight);
  gauge("llmq_upstream_requests_minute", "Requests started on each upstream in the sliding 60 s window", (s) => s.requestsMinute);
  gauge("llmq_upstream_tokens_minute", "Tokens reserved on each upstream in the sliding 60 s window (settled to real usage)", (s) => s.tokensMinute);
}
