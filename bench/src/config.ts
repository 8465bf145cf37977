import os from "node:os";

/** Sizes of one bench run, from the environment (the bench is a program: it reads process.env here, once). */
export interface BenchConfig {
  quick: boolean;
  /** Measured repetitions of each figure (the median is reported), after one warm-up. */
  repetitions: number;
  /** Seconds of each autocannon / baseline load run. */
  loadSeconds: number;
  warmupSeconds: number;
  /** Concurrent clients for submit and polling. */
  connections: number;
  batchItems: number;
  /** Tasks drained per dispatch repetition, and tasks timed one by one for pickup latency. */
  dispatchTasks: number;
  pickupTasks: number;
  /** Worker concurrency of the zero-latency model, and of the bare BullMQ worker it is compared with. */
  dispatchConcurrency: number;
  streamConcurrencies: number[];
  /** Tokens per upstream answer and the upstream's gap between them. */
  streamTokens: number;
  streamTokenDelayMs: number;
  sseStreams: number;
  /**
   * Figure 7: streamed tasks run one at a time, then waves of `costStreams` simultaneous streams, then
   * `costStreams` clients each sending `costWaves` waited (non-stream) completions back to back; after
   * them, `costWaitingTasks` tasks submitted to a model no worker serves (Redis memory of a waiting task).
   */
  costSerialTasks: number;
  costStreams: number;
  costWaves: number;
  costWaitingTasks: number;
  /** Which figures to run (BENCH_ONLY=submit,polling), all by default. */
  only: Set<string> | null;
  logLevel: string;
  /** Directory where the API and workers write V8 CPU profiles (BENCH_PROFILE=1: bench-results/profiles). */
  profileDir: string | null;
  /** Extra Node.js arguments for the API's and the workers' processes (BENCH_NODE_ARGS, space-separated; e.g. V8 heap flags to compare). */
  nodeArgs: string[];
  /** The API's API_PROCESSES (BENCH_API_PROCESSES, default: one per core, as a deployment). */
  apiProcesses: number;
  /** Figure 8: sequential non-stream completions per path (llmq, Portkey, direct), after a tenth as many unrecorded. */
  gatewayRequests: number;
  /** Figure 9: request rates tried (open loop), and seconds at each. */
  frontierRates: number[];
  frontierSeconds: number;
  /** Figure 10: streamed tasks timed stage by stage, one at a time. */
  stageTasks: number;
  /**
   * Figure 10: the wave sizes it is run at, each its own rows (BENCH_STAGE_STREAMS, default 1,50): one stream
   * at a time, and figure 4's 50 at once, where the stages show which part of the time to first token grows.
   */
  stageStreams: number[];
  /** Figure 11: the fair model's upstream `max_concurrency` (its worker's concurrency is twice it) and answer time (ms), tenant A's flood, and tenant B's tasks, one every `fairIntervalMs`. */
  fairConcurrency: number;
  fairLatencyMs: number;
  fairFloodTasks: number;
  fairSmallTasks: number;
  fairIntervalMs: number;
}

const FIGURES = ["submit", "batch", "dispatch", "streaming", "polling", "memory", "costs", "gateway", "frontier", "stages", "fairness", "waited"] as const;
export type Figure = (typeof FIGURES)[number];

function int(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number, got ${raw}`);
  return value;
}

export function loadBenchConfig(env: NodeJS.ProcessEnv): BenchConfig {
  const quick = env.BENCH_QUICK === "1" || env.BENCH_QUICK === "true";
  const only = env.BENCH_ONLY ? new Set(env.BENCH_ONLY.split(",").map((s) => s.trim())) : null;
  for (const name of only ?? []) if (!(FIGURES as readonly string[]).includes(name)) throw new Error(`BENCH_ONLY: unknown figure ${name} (known: ${FIGURES.join(", ")})`);
  return {
    quick,
    repetitions: int(env, "BENCH_REPETITIONS", quick ? 1 : 3),
    loadSeconds: int(env, "BENCH_SECONDS", quick ? 3 : 10),
    warmupSeconds: int(env, "BENCH_WARMUP_SECONDS", quick ? 3 : 5),
    connections: int(env, "BENCH_CONNECTIONS", 64),
    batchItems: int(env, "BENCH_BATCH_ITEMS", quick ? 5_000 : 50_000),
    dispatchTasks: int(env, "BENCH_DISPATCH_TASKS", quick ? 2_000 : 5_000),
    pickupTasks: int(env, "BENCH_PICKUP_TASKS", quick ? 200 : 1_000),
    dispatchConcurrency: int(env, "BENCH_DISPATCH_CONCURRENCY", 32),
    streamConcurrencies: (env.BENCH_STREAMS ?? (quick ? "1,50" : "1,50,200")).split(",").map(Number),
    streamTokens: int(env, "BENCH_STREAM_TOKENS", 40),
    streamTokenDelayMs: int(env, "BENCH_STREAM_TOKEN_DELAY_MS", 10),
    sseStreams: int(env, "BENCH_SSE_STREAMS", quick ? 200 : 1_000),
    costSerialTasks: int(env, "BENCH_COST_TASKS", quick ? 10 : 30),
    costStreams: int(env, "BENCH_COST_STREAMS", 50),
    costWaves: int(env, "BENCH_COST_WAVES", quick ? 4 : 10),
    costWaitingTasks: int(env, "BENCH_COST_WAITING_TASKS", quick ? 500 : 2_000),
    only,
    logLevel: env.BENCH_LOG_LEVEL ?? "warn",
    profileDir: env.BENCH_PROFILE === "1" ? "bench-results/profiles" : null,
    nodeArgs: (env.BENCH_NODE_ARGS ?? "").split(" ").filter((arg) => arg !== ""),
    apiProcesses: int(env, "BENCH_API_PROCESSES", os.availableParallelism()),
    gatewayRequests: int(env, "BENCH_GATEWAY_REQUESTS", quick ? 200 : 1_000),
    frontierRates: (env.BENCH_FRONTIER_RATES ?? "25,50,100,200,400,800").split(",").map(Number),
    frontierSeconds: int(env, "BENCH_FRONTIER_SECONDS", quick ? 2 : 5),
    stageTasks: int(env, "BENCH_STAGE_TASKS", quick ? 50 : 200),
    stageStreams: (env.BENCH_STAGE_STREAMS ?? "1,50").split(",").map((size) => int({ size }, "size", 1)),
    fairConcurrency: int(env, "BENCH_FAIR_CONCURRENCY", 2),
    fairLatencyMs: int(env, "BENCH_FAIR_LATENCY_MS", 50),
    fairFloodTasks: int(env, "BENCH_FAIR_FLOOD_TASKS", quick ? 1_000 : 2_000),
    fairSmallTasks: int(env, "BENCH_FAIR_SMALL_TASKS", quick ? 25 : 50),
    fairIntervalMs: int(env, "BENCH_FAIR_INTERVAL_MS", 200),
  };
}

export function wants(config: BenchConfig, figure: Figure): boolean {
  return config.only === null || config.only.has(figure);
}
