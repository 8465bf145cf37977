import { type ModelsConfig, ProviderError } from "@llmq/core";
import { type EngineBus, onTaskEnded } from "@llmq/engine";
import type { Provider, ProviderEvent, ProviderRequest } from "@llmq/providers";
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { RetentionKind } from "../retention";

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

/**
 * What a worker process observes, on a registry of its own, served on WORKER_METRICS_PORT: queue wait
 * (enqueue to pickup), time to first token and run time per model, and provider errors by class.
 * These are seen only here, so each worker is a Prometheus target of its own (like any replica).
 */
export class WorkerMetrics {
  readonly registry = new Registry();
  private readonly queueWait = new Histogram({
    name: "llmq_task_queue_wait_seconds",
    help: "Time from enqueue to a worker leasing the task (first tries only: retries wait on purpose)",
    labelNames: ["model"] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  private readonly firstToken = new Histogram({
    name: "llmq_task_time_to_first_token_seconds",
    help: "Time from the provider request to its first token or tool-call piece",
    labelNames: ["model"] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  private readonly duration = new Histogram({
    name: "llmq_task_duration_seconds",
    help: "Run time of one attempt of a task, by outcome (ok: completed, cancelled or skipped; error: failed, retried or threw)",
    labelNames: ["model", "outcome"] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  private readonly providerErrors = new Counter({
    name: "llmq_provider_errors_total",
    help: "Provider failures by model, error code (rate_limited, upstream_timeout, ...), whether they are retried, and upstream",
    labelNames: ["model", "code", "retryable", "upstream"] as const,
    registers: [this.registry],
  });
  private readonly tokens = new Counter({
    name: "llmq_provider_stream_events_total",
    help: "Text deltas and tool-call pieces received from providers",
    labelNames: ["model"] as const,
    registers: [this.registry],
  });

  private readonly upstreamRequests = new Counter({
    name: "llmq_upstream_requests_total",
    help: "Upstream requests by model, upstream and outcome (ok, or what the run queue was told: connection, timeout, server, rate_limited, quota)",
    labelNames: ["model", "upstream", "outcome"] as const,
    registers: [this.registry],
  });
  private readonly upstreamFailovers = new Counter({
    name: "llmq_upstream_failovers_total",
    help: "Requests moved to another upstream of their model before their first token",
    labelNames: ["model", "from", "to"] as const,
    registers: [this.registry],
  });
  private readonly upstreamPauses = new Counter({
    name: "llmq_upstream_pauses_total",
    help: "Reports that paused an upstream (a 429: rate_limited; insufficient_quota: quota)",
    labelNames: ["model", "upstream", "kind"] as const,
    registers: [this.registry],
  });
  private readonly fallbacks = new Counter({
    name: "llmq_fallbacks_total",
    help: "Fallbacks tried for a model's tasks: served, failed, retried, handed_back (back to the model's queue), skipped (a capability the fallback lacks), or refused by the fallback (busy: its own tasks wait; paused; blocked: no room)",
    labelNames: ["model", "fallback", "outcome"] as const,
    registers: [this.registry],
  });

  private readonly breakerTransitions = new Counter({
    name: "llmq_upstream_breaker_transitions_total",
    help: "Circuit breaker state changes this process saw in its reports (to: open, half_open, ok)",
    labelNames: ["model", "upstream", "to"] as const,
    registers: [this.registry],
  });
  /** The breaker state each upstream had after this process's last report on it. */
  private readonly breakerStates = new Map<string, string>();

  private readonly endedTasks = new Counter({
    name: "llmq_tasks_ended_total",
    help: "Tasks this process ended, by model and final status: sum over every API and worker process",
    labelNames: ["model", "status"] as const,
    registers: [this.registry],
  });

  private readonly erasedResponses = new Counter({
    name: "llmq_responses_erased_total",
    help: "Responses the sweeper erased because they ended longer than RESPONSE_RETENTION_HOURS ago",
    registers: [this.registry],
  });

  private readonly retentionDeletedRows = new Counter({
    name: "llmq_retention_deleted_total",
    help: "Rows the sweeper deleted past TASK_RETENTION_DAYS / FILE_RETENTION_DAYS, by kind (tasks, batches, files, deliveries, idempotency_keys)",
    labelNames: ["kind"] as const,
    registers: [this.registry],
  });
  private readonly retentionRounds = new Histogram({
    name: "llmq_retention_round_duration_seconds",
    help: "Time one sweeper round spent on retention (its deletions, bounded per round)",
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  private readonly retentionLastRound = new Gauge({
    name: "llmq_retention_last_round_seconds",
    help: "Time the last retention round took",
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: 10 });
  }

  /** Counts responses the sweeper erased at the end of their retention. */
  /** Counts the tasks this process's engine ends (llmq_tasks_ended_total). */
  countEndedTasks(bus: EngineBus, models: ModelsConfig): void {
    onTaskEnded(bus, models, (model, status) => this.endedTasks.inc({ model, status }));
  }

  responsesErased(count: number): void {
    this.erasedResponses.inc(count);
  }

  /** Counts rows the retention deleted. */
  retentionDeleted(kind: RetentionKind, count: number): void {
    this.retentionDeletedRows.inc({ kind }, count);
  }

  /** Times one retention round. */
  retentionRound(seconds: number): void {
    this.retentionRounds.observe(seconds);
    this.retentionLastRound.set(seconds);
  }

  /** One upstream request ended: `outcome` is ok or the report's label; `state` the upstream's health after the report. */
  upstreamRequest(model: string, upstream: string, outcome: string, state: string | null): void {
    this.upstreamRequests.inc({ model, upstream, outcome });
    if (outcome === "rate_limited" || outcome === "quota") this.upstreamPauses.inc({ model, upstream, kind: outcome });
    if (state === null) return;
    // The breaker's side of the state (a pause is not a breaker state).
    const breaker = state === "open" || state === "half_open" ? state : "ok";
    const key = `${model}\u0000${upstream}`;
    const before = this.breakerStates.get(key) ?? "ok";
    this.breakerStates.set(key, breaker);
    if (breaker !== before) this.breakerTransitions.inc({ model, upstream, to: breaker });
  }

  /** A request moved from one upstream to another before its first token. */
  failover(model: string, from: string, to: string): void {
    this.upstreamFailovers.inc({ model, from, to });
  }

  /** A fallback tried for a task of `model`, and how it went. */
  fallback(model: string, fallback: string, outcome: string): void {
    this.fallbacks.inc({ model, fallback, outcome });
  }

  /** A task leased from its run queue: its queue wait, when it is its first try (retries wait on purpose). */
  leased(model: string, task: { tries: number; enqueuedAt: number }): void {
    if (task.tries === 0) this.queueWait.observe({ model }, Math.max(0, Date.now() - task.enqueuedAt) / 1000);
  }

  /** The attempt runner, timed: the attempt's run time by outcome (ok: completed, cancelled or skipped; error: failed, retried, or threw). */
  instrumentRun<T, R extends { kind: string; failed?: boolean }>(model: string, run: (task: T, signal: AbortSignal) => Promise<R>): (task: T, signal: AbortSignal) => Promise<R> {
    return async (task, signal) => {
      const pickedAt = Date.now();
      let outcome = "error";
      try {
        const result = await run(task, signal);
        if (result.kind === "done" && !result.failed) outcome = "ok";
        return result;
      } finally {
        this.duration.observe({ model, outcome }, (Date.now() - pickedAt) / 1000);
      }
    };
  }

  /** The provider, observed: time to its first streamed event, events, and its errors by class. */
  instrumentProvider(model: string, provider: Provider, upstream: string): Provider {
    const metrics = this;
    return {
      type: provider.type,
      async *stream(request: ProviderRequest, signal: AbortSignal): AsyncIterable<ProviderEvent> {
        const started = Date.now();
        let first = true;
        try {
          for await (const event of provider.stream(request, signal)) {
            if (event.type !== "done") {
              if (first) metrics.firstToken.observe({ model }, (Date.now() - started) / 1000);
              first = false;
              metrics.tokens.inc({ model });
            }
            yield event;
          }
        } catch (error) {
          if (error instanceof ProviderError) metrics.providerErrors.inc({ model, code: error.code, retryable: String(error.retryable), upstream });
          else if (!signal.aborted) metrics.providerErrors.inc({ model, code: "unexpected", retryable: "false", upstream });
          throw error;
        }
      },
    };
  }
}
