// An API process of its own for suites that run several (TestStack.spawnApi): the API as main.ts starts
// it (one process, no cluster), with every answer held against its route's declaration, as the stack's
// in-process API's are. It writes one JSON line per answer that breaks the contract and, on SIGTERM, one
// with how many it checked; the stack reads them at close() into its ResponseLedger.
import { type CheckedResponse, loadApiEnv, startApi } from "@llmq/api";

/** The lines this process writes for the stack to read. */
export type ApiProcessReport = { contractProblem: CheckedResponse } | { contractChecked: number };

async function main(): Promise<void> {
  let checked = 0;
  const write = (report: ApiProcessReport) => process.stdout.write(`${JSON.stringify(report)}\n`);
  const api = await startApi(loadApiEnv(process.env), process.env, {
    onResponse: (response) => {
      checked++;
      if (response.problem) write({ contractProblem: response });
    },
  });
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    void api
      .close()
      .finally(() => write({ contractChecked: checked }))
      .then(() => process.exit(0), () => process.exit(1));
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

main().catch((error: unknown) => {
  console.error(`api failed to start: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
