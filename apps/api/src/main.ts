import cluster from "node:cluster";
import { createLogger } from "@llmq/config";
import { runPrimary } from "./cluster";
import { loadApiEnv } from "./env";
import { startApi } from "./server";

const SHUTDOWN_DEADLINE_MS = 10_000;

async function main(): Promise<void> {
  const env = loadApiEnv(process.env);
  // API_PROCESSES > 1: this process only supervises; each fork runs main() again as a cluster worker.
  if (env.API_PROCESSES > 1 && cluster.isPrimary) {
    runPrimary({ processes: env.API_PROCESSES, logger: createLogger({ name: "api", level: env.LOG_LEVEL }), shutdownDeadlineMs: SHUTDOWN_DEADLINE_MS + 2_000 });
    return;
  }
  const api = await startApi(env, process.env);
  const shutdown = () => {
    setTimeout(() => process.exit(1), SHUTDOWN_DEADLINE_MS).unref();
    void api.close().then(() => process.exit(0));
  };
  process.on("SIGTERM", shutdown);
  process.on("SIGINT", shutdown);
}

main().catch((error: unknown) => {
  console.error(`api failed to start: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
