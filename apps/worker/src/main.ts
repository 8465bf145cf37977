import "./supported-node";
import { loadWorkerEnv } from "./env";
import { startWorker } from "./worker";

async function main(): Promise<void> {
  const worker = await startWorker(loadWorkerEnv(process.env), process.env);
  const shutdown = (signal: string) => {
    worker.logger.info({ signal }, "worker shutting down");
    void worker.close().then(() => process.exit(0));
  };
  process.on("SIGTERM", () => shutdown("SIGTERM"));
  process.on("SIGINT", () => shutdown("SIGINT"));
}

main().catch((error: unknown) => {
  console.error(`worker failed to start: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
