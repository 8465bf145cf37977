import cluster, { type Worker } from "node:cluster";
import { createServer } from "node:net";
import type { Logger } from "@llmq/core";
import { AggregatorRegistry, type Registry } from "prom-client";

/** Messages between an API process and the primary: one process asks, the primary gathers every process's metrics. */
const METRICS_REQUEST = "llmq:metrics-request";
const METRICS_ANSWER = "llmq:metrics-answer";
/** An API process to the primary: it listens, on this port. */
const LISTENING = "llmq:listening";
/** A process that dies this soon after it started is restarted only after a pause (no tight crash loop). */
const EARLY_EXIT_MS = 5_000;
const RESTART_PAUSE_MS = 1_000;

export interface ClusterOptions {
  processes: number;
  /** PORT and HOST: the primary checks the port is free, then each process binds it itself (0: the first process's port). */
  port: number;
  host: string;
  logger: Logger;
  /** How long SIGTERM waits for the API processes to drain before killing them. */
  shutdownDeadlineMs: number;
}

/**
 * The primary of `API_PROCESSES` > 1: forks that many API processes listening on one port, the first
 * alone until it listens (it creates the admin account and runs start-up work the others then find
 * done), replaces any that dies, and on SIGTERM or SIGINT passes the signal on and waits for all of them
 * to drain. It holds no connection of its own; it only gathers `/metrics` from every process for the one
 * that was asked.
 *
 * On Linux each process binds the port itself with SO_REUSEPORT (`listenOptions`), and the kernel spreads new
 * connections over the processes' sockets by a hash of their addresses: evenly, whichever process is
 * busy. Two earlier ways were worse. The primary accepting and handing each connection over (round
 * robin) left a connection handed to a process that died before taking it open with nobody to answer it
 * (1 request in 200 probes hung after a SIGKILL). One socket shared by every process (the kernel wakes
 * whichever waits) was unbalanced: of 50 connections opened at once, 46 or 49 often went to one of two
 * processes, so a burst waited for one event loop while the other idled. With SO_REUSEPORT a dead
 * process's socket closes with it: the connections it had accepted are reset, new ones go to the others.
 * Since any process of the same user may join a port bound with SO_REUSEPORT, the primary first binds
 * the port alone, so a second llmq on the same port fails at once (EADDRINUSE) instead of sharing it.
 */
export function runPrimary(options: ClusterOptions): void {
  const { logger, processes } = options;
  let port = options.port;
  // Without SO_REUSEPORT (not Linux) the processes share one socket: they accept from it themselves (see
  // above: round robin through the primary can leave a connection unanswered when a process dies).
  if (!OWN_SOCKETS) cluster.schedulingPolicy = cluster.SCHED_NONE;
  const startedAt = new Map<Worker, number>();
  let stopping = false;
  let listening = 0;
  let announced = false;

  const fork = () => {
    // Once the first process listens, the others (and replacements) take its port: with PORT=0 each
    // process binding it itself would otherwise get a port of its own.
    const worker = cluster.fork(listening > 0 ? { PORT: String(port) } : {});
    startedAt.set(worker, Date.now());
    return worker;
  };

  const listened = (worker: Worker, at: number) => {
    listening += 1;
    if (listening === 1) {
      port = at;
      for (let i = 1; i < processes; i++) fork();
    }
    if (!announced && listening >= processes) {
      announced = true;
      logger.info({ processes, port, pids: Object.values(cluster.workers ?? {}).map((w) => w?.process.pid) }, "api processes listening");
    }
    logger.debug({ pid: worker.process.pid }, "api process listening");
  };

  cluster.on("exit", (worker, code, signal) => {
    const lived = Date.now() - (startedAt.get(worker) ?? 0);
    startedAt.delete(worker);
    if (stopping) return;
    logger.error({ pid: worker.process.pid, code, signal }, "an API process exited; starting another");
    setTimeout(fork, lived < EARLY_EXIT_MS ? RESTART_PAUSE_MS : 0);
  });

  const aggregator = new AggregatorRegistry();
  cluster.on("message", (worker, message: { type?: unknown; id?: unknown; port?: unknown }) => {
    if (message?.type === LISTENING && typeof message.port === "number") return listened(worker, message.port);
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
  portIsFree(options.port, options.host).then(
    () => fork(),
    (error: NodeJS.ErrnoException) => {
      logger.error({ port: options.port, host: options.host, code: error.code }, `cannot listen on ${options.host}:${options.port}: ${error.code === "EADDRINUSE" ? "another process is listening there" : error.message}`);
      process.exit(1);
    },
  );
}

/** Resolves once the port could be bound by this process alone (and is let go again); port 0 is always free. */
function portIsFree(port: number, host: string): Promise<void> {
  if (port === 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen({ port, host, exclusive: true }, () => probe.close(() => resolve()));
  });
}

/**
 * Where SO_REUSEPORT spreads connections over the sockets bound to a port (Linux; Node refuses the
 * option on platforms without it, macOS among them). Elsewhere the processes share one socket, as before.
 */
const OWN_SOCKETS = process.platform === "linux";

/** How an API process listens: in a cluster, on its own socket with SO_REUSEPORT where the kernel spreads connections so (see runPrimary). */
export function listenOptions(port: number, host: string): { port: number; host: string; reusePort: boolean } {
  return { port, host, reusePort: cluster.isWorker && OWN_SOCKETS };
}

/** Tells the primary this API process listens (a cluster's processes bind the port themselves, so the primary hears it only this way). */
export function reportListening(port: number): void {
  if (cluster.isWorker) process.send!({ type: LISTENING, port });
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
