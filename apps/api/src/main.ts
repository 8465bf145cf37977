import { loadApiEnv } from "./env";
import { startApi } from "./server";

const SHUTDOWN_DEADLINE_MS = 10_000;

async function main(): Promise<void> {
  const api = await startApi(loadApiEnv(process.env), process.env);
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
