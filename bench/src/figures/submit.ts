import { randomBytes } from "node:crypto";
import autocannon from "autocannon";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import { Pool } from "pg";
import type { BenchConfig } from "../config";
import { type Row, row } from "../report";
import { IDLE_MODEL, type BenchStack, queueOf } from "../stack";
import { medians, quantile, repeat, round } from "../stats";
import { INSERT_TASK, deleteBaselineRows, obliterate, retireWaiting } from "./cleanup";
import { startExpressFloorEdge, startFloor } from "../floor";
import { serviceDatabaseOid, statementsRun } from "../counters";
import { cpuMs, nodeProcesses } from "../processes";

export const SUBMIT_BODY = {
  messages: [{ role: "user", content: "Describe a futuristic city with advanced technology and green energy solutions." }],
  configs: { model: IDLE_MODEL, max_tokens: 64, top_k: 10, top_p: 0.9, temperature: 0 },
};

/** autocannon against one route; requests/s and latency percentiles in ms. */
export async function load(options: { url: string; method?: "GET" | "POST"; key: string; body?: unknown; connections: number; seconds: number }) {
  const result = await autocannon({
    url: options.url,
    method: options.method ?? "GET",
    connections: options.connections,
    duration: options.seconds,
    headers: { authorization: `Bearer ${options.key}`, ...(options.body ? { "content-type": "application/json" } : {}) },
    body: options.body ? JSON.stringify(options.body) : undefined,
  });
  const failed = result.non2xx + result.errors + result.timeouts;
  if (failed > result.requests.total / 100) throw new Error(`${options.url}: ${failed} of ${result.requests.total} requests failed (non-2xx ${result.non2xx}, errors ${result.errors})`);
  return { perSecond: result.requests.total / options.seconds, p50: result.latency.p50, p99: result.latency.p99 };
}

/** Commands Redis has processed so far (INFO stats), for the commands a request costs. */
async function redisCommands(stack: BenchStack): Promise<number> {
  const info = await stack.redis.info("stats");
  return Number(/total_commands_processed:(\d+)/.exec(info)?.[1] ?? 0);
}

/** Per stack: a reader of the statements its service's database has run so far, or null where pg_stat_statements cannot be loaded. */
const statementReaders = new WeakMap<BenchStack, Promise<(() => Promise<number>) | null>>();

/** Statements the service's database has run so far (figure 7's count, statementsRun), or NaN without pg_stat_statements (scripts/bench.sh preloads it). */
async function pgStatements(stack: BenchStack): Promise<number> {
  let reader = statementReaders.get(stack);
  if (!reader) {
    reader = (async () => {
      try {
        await stack.observer.query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements");
        const dbid = await serviceDatabaseOid(stack);
        return async () => (await statementsRun(stack, dbid)).rows.reduce((sum, r) => sum + Number(r.calls), 0);
      } catch {
        return null;
      }
    })();
    statementReaders.set(stack, reader);
  }
  const read = await reader;
  return read ? read().catch(() => Number.NaN) : Number.NaN;
}

/**
 * `load` with what it cost per request: CPU of `pids` (µs, /proc, 10 ms ticks over the window), Redis
 * commands (less the one INFO of the reading) and Postgres statements. Rates move 2-3x with the
 * machine's load; these much less.
 */
export async function costedLoad(stack: BenchStack, pids: readonly number[], options: Parameters<typeof load>[0]) {
  const before = { cpu: cpuMs(pids), redis: await redisCommands(stack), pg: await pgStatements(stack) };
  const result = await load(options);
  const requests = result.perSecond * options.seconds;
  return {
    ...result,
    cpuUs: ((cpuMs(pids) - before.cpu) * 1000) / requests,
    redisCommands: ((await redisCommands(stack)) - before.redis - 1) / requests,
    pgStatements: ((await pgStatements(stack)) - before.pg) / requests,
  };
}

/**
 * The raw per-row path: what the service must do at least per submit, without HTTP. One `INSERT` of the
 * columns the service writes into the real `tasks` table (its indexes, its foreign key to an existing
 * user), then one BullMQ `queue.add`, from one process with as many concurrent callers, over a pg pool
 * as large as the API's (20). Its rows are deleted afterwards (see deleteBaselineRows).
 */
async function rawSubmits(stack: BenchStack, connections: number, seconds: number) {
  const pool = new Pool({ connectionString: stack.databaseUrl, max: 20 });
  const connection = new Redis(stack.redisUrl, { maxRetriesPerRequest: null });
  const queue = new Queue("bench_raw_submit", { connection, prefix: stack.bullPrefix });
  const latencies: number[] = [];
  const deadline = performance.now() + seconds * 1000;
  const messages = JSON.stringify(SUBMIT_BODY.messages);
  const configs = JSON.stringify(SUBMIT_BODY.configs);
  const queueName = queueOf(IDLE_MODEL);
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (performance.now() < deadline) {
        const started = performance.now();
        const id = randomBytes(16).toString("hex");
        await pool.query({ name: "bench_raw_insert", text: INSERT_TASK, values: [id, stack.baselineOwnerId, IDLE_MODEL, queueName, messages, configs, 86_400, 600_000] });
        await queue.add("text-completion", { taskId: id }, { jobId: id, attempts: 5, removeOnComplete: { age: 86_400, count: 10_000 } });
        latencies.push(performance.now() - started);
      }
    }),
  );
  await queue.obliterate({ force: true });
  await queue.close();
  connection.disconnect();
  await pool.end();
  await deleteBaselineRows(stack);
  return { perSecond: latencies.length / seconds, p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99) };
}

/**
 * Figure 1: async submits over HTTP at 64 clients vs a row insert + queue.add at the same concurrency, and
 * vs the design floor (`floor-main.ts`): a bare HTTP edge that group-commits the rows of each event-loop
 * turn in one INSERT, LPUSHes their jobs and answers the ids, the least a submit can do under DESIGN.md's
 * rules (no auth, schema, limits, idempotency, events, live lists, metrics or logs).
 */
export async function benchSubmit(stack: BenchStack, config: BenchConfig, notes: string[] = []): Promise<Row[]> {
  const api = nodeProcesses(stack.api.child.pid!);
  const floor = await startFloor(stack);
  const edge = nodeProcesses(floor.services[0]!.child.pid!);
  const expressFloor = await startExpressFloorEdge(stack).catch(async (error: unknown) => {
    for (const service of floor.services) await service.stop();
    throw error;
  });
  const expressEdge = nodeProcesses(expressFloor.service.child.pid!);
  const runs = await repeat(config.repetitions, async (index) => {
    const seconds = index < 0 ? config.warmupSeconds : config.loadSeconds;
    const service = await costedLoad(stack, api, { url: `${stack.apiUrl}/v1/ai/text_completion?async=true`, method: "POST", key: stack.adminKey, body: SUBMIT_BODY, connections: config.connections, seconds });
    await retireWaiting(stack, IDLE_MODEL, queueOf(IDLE_MODEL));
    const raw = await rawSubmits(stack, config.connections, seconds);
    await obliterate(stack, "bench_raw_submit");
    // The two floor edges take turns going first (as figure 4's paths do), so neither always follows the other's rows.
    const edges = { bare: { pids: edge, url: floor.url }, express: { pids: expressEdge, url: expressFloor.url } };
    const measured: Partial<Record<keyof typeof edges, Awaited<ReturnType<typeof costedLoad>>>> = {};
    for (const name of index % 2 === 0 ? (["bare", "express"] as const) : (["express", "bare"] as const)) {
      measured[name] = await costedLoad(stack, edges[name].pids, { url: `${edges[name].url}/v1/ai/text_completion`, method: "POST", key: "floor", body: SUBMIT_BODY, connections: config.connections, seconds });
      await deleteBaselineRows(stack);
    }
    const floored = measured.bare!;
    const expressFloored = measured.express!;
    return {
      service: service.perSecond,
      serviceP50: service.p50,
      serviceP99: service.p99,
      raw: raw.perSecond,
      rawP50: raw.p50,
      rawP99: raw.p99,
      floor: floored.perSecond,
      floorP99: floored.p99,
      floorCpuUs: floored.cpuUs,
      apiCpuUs: service.cpuUs,
      redisPerSubmit: service.redisCommands,
      pgPerSubmit: service.pgStatements,
      floorPgPerSubmit: floored.pgStatements,
      expressFloor: expressFloored.perSecond,
      expressFloorP99: expressFloored.p99,
      expressFloorCpuUs: expressFloored.cpuUs,
    };
  }).finally(async () => {
    for (const service of [...floor.services, expressFloor.service]) await service.stop();
  });
  const m = medians(runs);
  notes.push(
    `figure 1, per submit (medians of the repetitions): API CPU ${round(m.apiCpuUs, 1)} µs (its ${api.length} Node processes; /proc, 10 ms ticks); Redis commands processed ${round(m.redisPerSubmit, 2)} (INFO stats); Postgres statements ${round(m.pgPerSubmit, 3)} (pg_stat_statements, BEGIN/COMMIT included). The design floor's edge: ${round(m.floor)} submits/s, p99 ${round(m.floorP99)} ms, CPU ${round(m.floorCpuUs, 1)} µs and ${round(m.floorPgPerSubmit, 3)} Postgres statements per submit (one process). The same edge under Express 5 (express.json(), res.json()): ${round(m.expressFloor)} submits/s, p99 ${round(m.expressFloorP99)} ms, CPU ${round(m.expressFloorCpuUs, 1)} µs per submit.`,
  );
  const c = config.connections;
  /** Figure 1's p99 target, for llmq and for the design floor (whether DESIGN.md's rules can meet it on this machine at all). */
  const p99Target = (p99: number) => ({ text: "< 25 ms", met: p99 < 25 });
  return [
    row("1. submit", `async submits/s, ${c} clients (baseline: raw per-row path, INSERT into tasks + queue.add)`, "req/s", m.service, m.raw, { text: ">= 0.7x raw per-row path", met: m.service >= 0.7 * m.raw }),
    row("1. submit", `latency p50, ${c} clients`, "ms", m.serviceP50, m.rawP50),
    row("1. submit", `latency p99, ${c} clients`, "ms", m.serviceP99, m.rawP99, p99Target(m.serviceP99)),
    row("1. submit", `design floor (bare edge, group-committed INSERT + LPUSH): submits/s, ${c} clients (baseline: raw per-row path)`, "req/s", m.floor, m.raw),
    row("1. submit", `design floor: latency p99, ${c} clients (the target applied to the floor: can DESIGN.md's rules meet it on this machine?)`, "ms", m.floorP99, null, p99Target(m.floorP99)),
    row("1. submit", `design floor under Express (the framework issue 13 keeps): latency p99, ${c} clients`, "ms", m.expressFloorP99, null, p99Target(m.expressFloorP99)),
    row("1. submit", `latency p99, ${c} clients (baseline: the design floor's)`, "ms", m.serviceP99, m.floorP99),
  ];
}
