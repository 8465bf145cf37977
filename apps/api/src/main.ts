import "./supported-node";
import cluster from "node:cluster";
import type { AddressInfo } from "node:net";
import { createLogger } from "@llmq/config";
import { reportListening, runPrimary } from "./cluster";
import { loadApiEnv } from "./env";

const SHUTDOWN_DEADLINE_MS = 10_000;
/** How long requests under way may take to finish after SIGTERM before their connections are closed. */
const DRAIN_MS = 5_000;

async function main(): Promise<void> {
  const env = loadApiEnv(process.env);
  // API_PROCESSES > 1: this process only supervises; each fork runs main() again as a cluster worker.
  if (env.API_PROCESSES > 1 && cluster.isPrimary) {
    runPrimary({ processes: env.API_PROCESSES, port: env.PORT, host: env.HOST, logger: createLogger({ name: "api", level: env.LOG_LEVEL, format: env.LOG_FORMAT }), shutdownDeadlineMs: SHUTDOWN_DEADLINE_MS + 2_000 });
    return;
  }
  // Loaded here, not at the top: the cluster's primary never serves, and loading the whole app there
  // cost every start one more full load of it (on 2 cores, about a second of the time to ready).
  const { startApi } = await import("./server");
  const api = await startApi(env, process.env);
  reportListening((api.server.address() as AddressInfo).port);
  let stopping = false;
  const shutdown = () => {
    if (stopping) return;
    stopping = true;
    setTimeout(() => process.exit(1), SHUTDOWN_DEADLINE_MS).unref();
    // Drain: no new connections (idle keep-alive ones close now), requests under way get up to DRAIN_MS
    // to be answered; then everything closes (open SSE streams end; their clients resume elsewhere).
    const drained = new Promise<void>((resolve) => {
      api.server.close(() => resolve());
      setTimeout(resolve, DRAIN_MS).unref();
      // A keep-alive connection whose request was just answered is idle now: close it rather than wait.
      setInterval(() => api.server.closeIdleConnections(), 50).unref();
    });
    void drained.then(() => api.close()).then(() => process.exit(0));
  };
  process.on("SIGTERM", shutdown);
  process.on("SIGINT", shutdown);
}

main().catch((error: unknown) => {
  console.error(`api failed to start: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
