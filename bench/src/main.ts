// npm run bench: see docs/performance.md. Run through scripts/bench.sh, which provides Postgres and Redis.
import { type BenchConfig, type Figure, loadBenchConfig, wants } from "./config";
import { benchBatch } from "./figures/batch";
import { benchDispatch } from "./figures/dispatch";
import { benchMemory } from "./figures/memory";
import { benchPolling } from "./figures/polling";
import { benchStreaming } from "./figures/streaming";
import { benchSubmit } from "./figures/submit";
import { taskRowUpdates, tasksCreatedSince } from "./figures/writes";
import { type Row, row, writeResults } from "./report";
import { type BenchStack, UPSTREAM_MODEL, startBenchStack } from "./stack";

// Memory first: the API's RSS is read before the other figures have grown its heap.
const FIGURES: [Figure, (stack: BenchStack, config: BenchConfig) => Promise<Row[]>][] = [
  ["memory", benchMemory],
  ["submit", benchSubmit],
  ["batch", benchBatch],
  ["dispatch", benchDispatch],
  ["streaming", streamingWithWrites],
  ["polling", benchPolling],
];

/** Figure 4, plus what it costs Postgres: row updates per streamed task must not grow with its tokens. */
async function streamingWithWrites(stack: BenchStack, config: BenchConfig): Promise<Row[]> {
  const since = (await stack.pg.query<{ now: Date }>("SELECT now()")).rows[0]!.now;
  const updatesBefore = await taskRowUpdates(stack);
  const rows = await benchStreaming(stack, config);
  const updates = (await taskRowUpdates(stack)) - updatesBefore;
  const { tasks, seconds } = await tasksCreatedSince(stack, UPSTREAM_MODEL, since);
  const perTask = updates / Math.max(1, tasks);
  // Start and completion are one update each; checkpoints come at most every CHECKPOINT_INTERVAL_MS (500).
  const checkpointsPerSecond = (updates - 2 * tasks) / Math.max(0.001, seconds);
  rows.push(row("4. streaming", `Postgres row updates per streamed task (${config.streamTokens} tokens)`, "updates", perTask, config.streamTokens));
  rows.push(row("4. streaming", "progress writes per second of a running task", "writes/s", checkpointsPerSecond, null, { text: "<= 2/s (coalesced)", met: checkpointsPerSecond <= 2 }));
  return rows;
}

async function main(): Promise<void> {
  const config = loadBenchConfig(process.env);
  const log = (message: string) => process.stderr.write(`[bench] ${message}\n`);
  log(`starting the stack (${config.quick ? "quick" : "full"} run, ${config.repetitions} repetition(s) after a warm-up)`);
  const stack = await startBenchStack(config, process.env);
  const rows: Row[] = [];
  const notes: string[] = [
    `API LOG_LEVEL=${config.logLevel} (BENCH_LOG_LEVEL); Postgres and Redis on this machine; the load generator (autocannon) runs in the bench process.`,
  ];
  try {
    await stack.startWorker([UPSTREAM_MODEL]);
    for (const [name, run] of FIGURES) {
      if (!wants(config, name)) continue;
      const started = Date.now();
      log(`${name}...`);
      try {
        const figureRows = await run(stack, config);
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
