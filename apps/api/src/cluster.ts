import cluster, { type Worker } from "node:cluster";
import type { Logger } from "@llmq/core";
import { AggregatorRegistry, type Registry } from "prom-client";

/** Messages between an API process and the primary: one process asks, the primary gathers every process's metrics. */
const METRICS_REQUEST = "llmq:metrics-request";
const METRICS_ANSWER = "llmq:metrics-answer";
/** A process that dies this soon after it started is restarted only after a pause (no tight crash loop). */
const EARLY_EXIT_MS = 5_000;
const RESTART_PAUSE_MS = 1_000;

export interface ClusterOptions {
  processes: number;
  logger: Logger;
  /** How long SIGTERM waits for the API processes to drain before killing them. */
  shutdownDeadlineMs: number;
}

/**
 * The primary of `API_PROCESSES` > 1: forks that many API processes sharing the listening port, the
 * first alone until it listens (it creates the admin
 * account and runs start-up work the others then find done), replaces any that dies, and on SIGTERM or
 * SIGINT passes the signal on and waits for all of them to drain. It holds no connection of its own; it
 * only gathers `/metrics` from every process for the one that was asked.
 */
export function runPrimary(options: ClusterOptions): void {
  const { logger, processes } = options;
  // The processes accept from the shared socket themselves (the kernel spreads connections), rather than
  // the primary accepting and handing each over (round robin): a connection handed to a process that dies
  // before taking it was left open by the primary with nobody to answer it (1 request in 200 probes hung
  // after a SIGKILL); accepting directly, a dead process's connections are reset, and the others go on.
  cluster.schedulingPolicy = cluster.SCHED_NONE;
  const startedAt = new Map<Worker, number>();
  let stopping = false;
  let listening = 0;
  let announced = false;

  const fork = () => {
    const worker = cluster.fork();
    startedAt.set(worker, Date.now());
    return worker;
  };

  cluster.on("listening", (worker, address) => {
    listening += 1;
    if (listening === 1) for (let i = 1; i < processes; i++) fork();
    if (!announced && listening >= processes) {
      announced = true;
      logger.info({ processes, port: address.port, pids: Object.values(cluster.workers ?? {}).map((w) => w?.process.pid) }, "api processes listening");
    }
    logger.debug({ pid: worker.process.pid }, "api process listening");
  });

  cluster.on("exit", (worker, code, signal) => {
    const lived = Date.now() - (startedAt.get(worker) ?? 0);
    startedAt.delete(worker);
    if (stopping) return;
    logger.error({ pid: worker.process.pid, code, signal }, "an API process exited; starting another");
    setTimeout(fork, lived < EARLY_EXIT_MS ? RESTART_PAUSE_MS : 0);
  });

  const aggregator = new AggregatorRegistry();
  cluster.on("message", (worker, message: { type?: unknown; id?: unknown }) => {
    if (message?.type !== METRICS_REQUEST) return;
    aggregator.clusterMetrics().then(
      (text) => worker.send({ type: METRICS_ANSWER, id: message.id, text }),
      (error: unknown) => worker.send({ type: METRICS_ANSWER, id: message.id, error: error instanceof Error ? error.message : String(error) }),
    );
  });

  const stop = () => {
    if (stopping) return;
    stopping = true;
    const workers = Object.values(cluster.workers ?? {}).filter((worker): worker is Worker => worker !== undefined);
    logger.info({ processes: workers.length }, "stopping the API processes");
    setTimeout(() => {
      for (const worker of workers) worker.process.kill("SIGKILL");
      process.exit(1);
    }, options.shutdownDeadlineMs).unref();
    let left = workers.length;
    if (left === 0) process.exit(0);
    for (const worker of workers) {
      worker.once("exit", () => {
        left -= 1;
        if (left === 0) process.exit(0);
      });
      worker.process.kill("SIGTERM");
    }
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  fork();
}

/**
 * How `/metrics` reads its registry: alone, the registry itself; in an API process of a cluster, every
 * process's registry merged by the primary (counters and histograms summed; gauges that read shared
 * state, such as task counts, declare `aggregator: "first"`), so a scrape sees the whole API whichever
 * process answers it.
 */
export function metricsReader(registry: Registry, timeoutMs = 5_000): () => Promise<string> {
  if (!cluster.isWorker) return () => registry.metrics();
  AggregatorRegistry.setRegistries([registry]);
  // Constructing one installs prom-client's answer to the primary's requests in this process.
  new AggregatorRegistry();
  let next = 0;
  const waiting = new Map<number, { resolve(text: string): void; reject(error: Error): void }>();
  process.on("message", (message: { type?: unknown; id?: unknown; text?: unknown; error?: unknown }) => {
    if (message?.type !== METRICS_ANSWER || typeof message.id !== "number") return;
    const request = waiting.get(message.id);
    if (!request) return;
    waiting.delete(message.id);
    if (typeof message.text === "string") request.resolve(message.text);
    else request.reject(new Error(`the primary could not gather the metrics: ${String(message.error)}`));
  });
  return () =>
    new Promise<string>((resolve, reject) => {
      const id = next++;
      const timer = setTimeout(() => {
        waiting.delete(id);
        reject(new Error("the primary did not answer with the metrics"));
      }, timeoutMs);
      waiting.set(id, {
        resolve: (text) => (clearTimeout(timer), resolve(text)),
        reject: (error) => (clearTimeout(timer), reject(error)),
      });
      process.send!({ type: METRICS_REQUEST, id });
    });
}
