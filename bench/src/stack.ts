import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { Redis } from "ioredis";
import { Pool } from "pg";
import type { BenchConfig } from "./config";
import { REPO_ROOT, type Service, freePort, nodeProcesses, startService, waitForHttp, waitForOutput } from "./processes";
import { sleep } from "./stats";

/** Models of the bench: one no worker serves (tasks stay queued), one at zero latency, one over the upstream fixture. */
export const IDLE_MODEL = "bench-idle";
export const ZERO_MODEL = "bench-zero";
export const UPSTREAM_MODEL = "bench-upstream";
/** Figure 11: fixed concurrency and a fixed answer time, so one tenant's flood makes a long line. */
export const FAIR_MODEL = "bench-fair";

export const queueOf = (model: string) => `llm_${model.replace(/[^A-Za-z0-9]/g, "_")}_queue`;

/** A worker process of the bench, with its metrics (WORKER_METRICS_PORT) for the Redis counts. */
export interface BenchWorker extends Service {
  metricsUrl: string;
}

/** One API process's memory as bench/src/gc-signal.cjs reports it: process.memoryUsage() and V8's heap spaces. */
export interface ProcessMemory extends NodeJS.MemoryUsage {
  pid: number;
  spaces: Record<string, { used: number; physical: number }>;
}

/** The API's memory: the sums over its Node processes (the cluster's primary and workers), and each process. */
export interface ApiMemory {
  rss: number;
  heapUsed: number;
  /** V8's young generation's resident size (new space), summed. */
  newSpace: number;
  processes: ProcessMemory[];
}

export interface BenchStack {
  apiUrl: string;
  adminKey: string;
  api: Service;
  fixtureUrl: string;
  /** REDIS_PREFIX of this run (the run queues' keys start with it). */
  redisPrefix: string;
  /** BullMQ prefix of this run (REDIS_PREFIX + ":bull"). */
  bullPrefix: string;
  databaseUrl: string;
  redisUrl: string;
  /** For the bench's own queries: counting rows, reading timestamps. */
  pg: Pool;
  /**
   * The same server's `postgres` database: statistics are read from there, so that reading them does
   * not count as a statement or a transaction of the service's database.
   */
  observer: Pool;
  redis: Redis;
  /** A user of the bench's own, owner of the baselines' rows in `tasks` (deleted after each baseline run). */
  baselineOwnerId: string;
  /** Worker processes now running. */
  workers(): BenchWorker[];
  /** The API's memory right after a memory-reducing full garbage collection in each of its processes (bench/src/gc-signal.cjs). */
  apiMemoryAfterGc(): Promise<ApiMemory>;
  /** Starts a worker process serving `models`; resolves once it is ready. */
  startWorker(models: string[], extraEnv?: Record<string, string>): Promise<BenchWorker>;
  close(): Promise<void>;
}

export async function startBenchStack(config: BenchConfig, env: NodeJS.ProcessEnv): Promise<BenchStack> {
  const databaseUrl = required(env, "DATABASE_URL");
  const redisUrl = required(env, "REDIS_URL");
  const workDir = env.BENCH_WORK_DIR ?? fs.mkdtempSync("/tmp/llmq-bench-");
  const prefix = `bench${randomBytes(4).toString("hex")}`;
  const adminKey = `admin_${randomBytes(16).toString("hex")}`;
  const services: Service[] = [];

  const fixture = startService("fixture", "bench/src/fixture-main.ts", {
    FIXTURE_TOKENS: String(config.streamTokens),
    FIXTURE_TOKEN_DELAY_MS: String(config.streamTokenDelayMs),
  });
  services.push(fixture);
  const fixtureUrl = await waitForOutput(fixture, "FIXTURE ");

  const modelsFile = path.join(workDir, "bench-models.json");
  const maxStreams = Math.max(...config.streamConcurrencies, 1);
  fs.writeFileSync(
    modelsFile,
    JSON.stringify({
      providers: {
        zero: { type: "simulated", first_token_ms: 0, tokens_per_second: 1_000_000 },
        upstream: { type: "openai", base_url: fixtureUrl, api_key: "bench", timeout_ms: 120_000 },
        fair: { type: "simulated", first_token_ms: config.fairLatencyMs, tokens_per_second: 1_000_000 },
      },
      models: [
        // Submits pile up here (no worker serves it): backpressure must not cut the measured run short.
        { id: IDLE_MODEL, provider: "zero", concurrency: 1, max_queue_depth: 10_000_000 },
        { id: ZERO_MODEL, provider: "zero", concurrency: config.dispatchConcurrency },
        { id: UPSTREAM_MODEL, provider: "upstream", concurrency: Math.max(maxStreams, 8) },
        // Figure 11 goes through the upstream reservation path: the upstream's max_concurrency (shared by
        // every worker, in Redis) is the bound, the worker's own concurrency is twice as much.
        {
          id: FAIR_MODEL,
          upstreams: [{ provider: "fair", max_concurrency: config.fairConcurrency }],
          concurrency: 2 * config.fairConcurrency,
          max_queue_depth: 10_000_000,
        },
      ],
    }),
  );
  const common = {
    DATABASE_URL: databaseUrl,
    REDIS_URL: redisUrl,
    REDIS_PREFIX: prefix,
    MODELS_FILE: modelsFile,
    ADMIN_API_KEY: adminKey,
    AUTH_JWT_SECRET: randomBytes(32).toString("hex"),
    // The sweeper must not re-enqueue the idle model's tasks that the bench clears between runs.
    SWEEP_INTERVAL_MS: "3600000",
    // Redis commands and round trips on /metrics, for figure 7 (packages/queue/src/redis-stats.ts).
    REDIS_STATS: "1",
  };

  const nodeArgs = [...(config.profileDir ? ["--cpu-prof", `--cpu-prof-dir=${config.profileDir}`] : []), ...config.nodeArgs];
  const port = await freePort();
  const memFile = path.join(workDir, `api-memory-${prefix}`);
  const api = startService(
    "api",
    "apps/api/src/main.ts",
    { ...common, PORT: String(port), LOG_LEVEL: config.logLevel, RATE_LIMIT_PER_MINUTE: "0", API_PROCESSES: String(config.apiProcesses), BENCH_MEM_FILE: memFile },
    // Cluster workers inherit these arguments, so each API process answers SIGWINCH with its own memory.
    [...nodeArgs, "--expose-gc", "--require", path.join(REPO_ROOT, "bench/src/gc-signal.cjs")],
  );
  services.push(api);
  const apiUrl = `http://127.0.0.1:${port}`;
  await waitForHttp(api, `${apiUrl}/readyz`);
  if (config.apiProcesses > 1) await waitForProcesses(api, config.apiProcesses);

  const running = new Set<BenchWorker>();
  const startWorker = async (models: string[], extraEnv: Record<string, string> = {}): Promise<BenchWorker> => {
    const metricsPort = await freePort();
    const service = startService(
      `worker(${models.join(",")})`,
      "apps/worker/src/main.ts",
      { ...common, WORKER_MODELS: models.join(","), LOG_LEVEL: "info", WORKER_METRICS_PORT: String(metricsPort), ...extraEnv },
      nodeArgs,
    );
    services.push(service);
    await waitForOutput(service, "worker ready");
    const worker: BenchWorker = {
      ...service,
      metricsUrl: `http://127.0.0.1:${metricsPort}/metrics`,
      stop: async () => {
        running.delete(worker);
        await service.stop();
      },
    };
    running.add(worker);
    return worker;
  };

  const pg = new Pool({ connectionString: databaseUrl, max: 20 });
  const observerUrl = new URL(databaseUrl);
  observerUrl.pathname = "/postgres";
  const observer = new Pool({ connectionString: observerUrl.toString(), max: 2 });
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: null });
  const baselineOwnerId = (await pg.query<{ id: string }>("INSERT INTO users (id, name) VALUES (gen_random_uuid(), $1) RETURNING id::text", [`bench-baseline-${prefix}`])).rows[0]!.id;
  return {
    apiUrl,
    adminKey,
    api,
    fixtureUrl,
    redisPrefix: prefix,
    bullPrefix: `${prefix}:bull`,
    databaseUrl,
    redisUrl,
    pg,
    observer,
    redis,
    baselineOwnerId,
    workers: () => [...running],
    apiMemoryAfterGc: async () => {
      // Every API process (the cluster's primary and its workers): streams are spread over the workers.
      const pids = nodeProcesses(api.child.pid!);
      const files = pids.map((pid) => `${memFile}.${pid}`);
      for (const file of files) fs.rmSync(file, { force: true });
      for (const pid of pids) process.kill(pid, "SIGWINCH");
      for (const deadline = Date.now() + 30_000; Date.now() < deadline; ) {
        await sleep(100);
        try {
          const processes = files.map((file, i) => ({ pid: pids[i]!, ...(JSON.parse(fs.readFileSync(file, "utf8")) as Omit<ProcessMemory, "pid">) }));
          const sum = (of: (each: ProcessMemory) => number) => processes.reduce((total, each) => total + of(each), 0);
          return { rss: sum((each) => each.rss), heapUsed: sum((each) => each.heapUsed), newSpace: sum((each) => each.spaces.new_space?.physical ?? 0), processes };
        } catch {
          // not all written yet
        }
      }
      throw new Error("the API did not report its memory (bench/src/gc-signal.cjs)");
    },
    startWorker,
    close: async () => {
      await Promise.allSettled(services.map((service) => service.stop()));
      await pg.query("DELETE FROM users WHERE id = $1", [baselineOwnerId]).catch(() => undefined);
      await Promise.all([pg.end(), observer.end()]);
      redis.disconnect();
    },
  };
}

function required(env: NodeJS.ProcessEnv, name: string): string {
  const value = env[name];
  if (!value) throw new Error(`${name} is not set: run the bench through npm run bench (scripts/bench.sh), which starts Postgres and Redis`);
  return value;
}

/**
 * Waits until the API's primary has all its processes (the first listens before the others are forked),
 * then as long again as the first took to answer, for the last ones to listen: at the bench's log level
 * the primary's "api processes listening" line is not printed.
 */
async function waitForProcesses(api: Service, processes: number): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (nodeProcesses(api.child.pid!).length < processes + 1) {
    if (Date.now() > deadline) throw new Error(`the API did not start ${processes} processes:\n${api.output()}`);
    await sleep(100);
  }
  await sleep(5_000);
}
