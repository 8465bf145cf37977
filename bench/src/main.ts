// npm run bench: see docs/performance.md. Run through scripts/bench.sh, which provides Postgres and Redis.
import { type BenchConfig, type Figure, loadBenchConfig, wants } from "./config";
import { benchBatch } from "./figures/batch";
import { benchCosts } from "./figures/costs";
import { benchDispatch } from "./figures/dispatch";
import { benchFairness } from "./figures/fairness";
import { benchFrontier, benchGateway } from "./figures/gateway";
import { benchMemory } from "./figures/memory";
import { benchPolling } from "./figures/polling";
import { benchStages } from "./figures/stages";
import { benchStreaming } from "./figures/streaming";
import { benchSubmit } from "./figures/submit";
import { benchWaited } from "./figures/waited";
import { type Row, writeResults } from "./report";
import { type BenchStack, UPSTREAM_MODEL, startBenchStack } from "./stack";

// Memory first: the API's RSS is read before the other figures have grown its heap. Costs last: it
// waits for Postgres's statistics of everything before it to arrive.
const FIGURES: [Figure, (stack: BenchStack, config: BenchConfig, notes: string[]) => Promise<Row[]>][] = [
  ["memory", benchMemory],
  ["submit", benchSubmit],
  ["batch", benchBatch],
  ["dispatch", benchDispatch],
  ["streaming", benchStreaming],
  ["stages", benchStages],
  ["polling", benchPolling],
  ["gateway", benchGateway],
  ["frontier", benchFrontier],
  ["waited", benchWaited],
  ["fairness", benchFairness],
  ["costs", benchCosts],
];

async function main(): Promise<void> {
  const config = loadBenchConfig(process.env);
  const log = (message: string) => process.stderr.write(`[bench] ${message}\n`);
  log(`starting the stack (${config.quick ? "quick" : "full"} run, ${config.repetitions} repetition(s) after a warm-up)`);
  const stack = await startBenchStack(config, process.env);
  const rows: Row[] = [];
  const notes: string[] = [
    `API LOG_LEVEL=${config.logLevel} (BENCH_LOG_LEVEL), API_PROCESSES=${config.apiProcesses} (BENCH_API_PROCESSES); Postgres and Redis on this machine; the load generator (autocannon) runs in the bench process.`,
  ];
  try {
    await stack.startWorker([UPSTREAM_MODEL]);
    for (const [name, run] of FIGURES) {
      if (!wants(config, name)) continue;
      const started = Date.now();
      log(`${name}...`);
      try {
        const figureRows = await run(stack, config, notes);
        rows.push(...figureRows);
        for (const r of figureRows) log(`  ${r.measure}: ${r.service} ${r.unit} (baseline ${r.baseline ?? "-"}, ${r.ratio ?? "-"}x)${r.met === false ? " MISSED" : ""}`);
      } catch (error) {
        notes.push(`${name} failed: ${error instanceof Error ? error.message.split("\n")[0] : String(error)}`);
        log(`${name} failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
      }
      log(`${name} took ${Math.round((Date.now() - started) / 1000)} s`);
    }
  } finally {
    await stack.close();
  }
  console.log(writeResults(config, rows, notes));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
