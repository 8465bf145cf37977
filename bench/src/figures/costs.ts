import { keySpace, runQueueKeys } from "@llmq/queue";
import type { BenchConfig } from "../config";
import { type Counters, STATS_SETTLE_MS, attributed, calibrate, counterReader } from "../counters";
import { requestJson, timeStream } from "../http-client";
import { type Row, row } from "../report";
import { type BenchStack, IDLE_MODEL, UPSTREAM_MODEL, queueOf } from "../stack";
import { sleep } from "../stats";
import { retireWaiting } from "./cleanup";
import { PATHS } from "./streaming";

/** Streamed through the task API (`?stream=true`), as a client reading the answer live does. */
const TASK_SSE = PATHS.find((path) => path.name === "task API SSE")!;

const round1 = (n: number) => Math.round(n * 10) / 10;

/** `waves` waves of `streams` streamed tasks (all of a wave started together). */
async function runStreams(stack: BenchStack, streams: number, waves: number): Promise<void> {
  for (let wave = 0; wave < waves; wave++) {
    await Promise.all(Array.from({ length: streams }, () => timeStream(TASK_SSE.url(stack), TASK_SSE.headers(stack), TASK_SSE.body, TASK_SSE.read)));
  }
}

/** The non-stream completion the waited window sends: the same prompt and model as the streams. */
const WAITED_BODY = { model: UPSTREAM_MODEL, messages: [{ role: "user", content: "Tell me a story." }], max_tokens: 1_000 };

/** `clients` clients, each sending `each` waited (non-stream) `POST /v1/chat/completions` one after another: a steady closed-loop load. */
async function runWaited(stack: BenchStack, clients: number, each: number): Promise<void> {
  await Promise.all(
    Array.from({ length: clients }, async () => {
      for (let i = 0; i < each; i++) {
        const answer = await requestJson<{ choices?: { message?: { content?: string } }[] }>(`${stack.apiUrl}/v1/chat/completions`, { key: stack.adminKey, body: WAITED_BODY });
        if (!answer.choices?.[0]?.message?.content) throw new Error("a waited completion answered without content");
      }
    }),
  );
}

/**
 * Tasks of the upstream model created in [since, until]: their ids, their summed run time (started ->
 * completed) in seconds, and the mean size of their rows as stored (`pg_column_size` of the whole row:
 * tuple header and data, compressed or TOASTed values at their stored size; the TOAST chunks' own
 * overhead not included).
 */
async function tasksBetween(stack: BenchStack, since: Date, until: Date) {
  const { rows } = await stack.pg.query<{ n: string; completed: string; s: number | null; row_bytes: number | null; ids: string[] | null }>(
    `SELECT count(*) AS n, count(*) FILTER (WHERE status = 'COMPLETED') AS completed, sum(extract(epoch FROM completed_at - started_at))::float8 AS s,
            avg(pg_column_size(t.*))::float8 AS row_bytes, array_agg(task_id) AS ids
       FROM tasks t WHERE model = $1 AND created_at BETWEEN $2 AND $3`,
    [UPSTREAM_MODEL, since, until],
  );
  const r = rows[0]!;
  return { tasks: Number(r.n), completed: Number(r.completed), seconds: r.s ?? 0, rowBytes: r.row_bytes ?? 0, ids: r.ids ?? [] };
}

/** Mean `MEMORY USAGE` (all samples) of keys, in bytes; keys already gone count as 0. */
async function meanMemoryUsage(stack: BenchStack, keys: string[]): Promise<number> {
  if (keys.length === 0) return Number.NaN;
  let total = 0;
  for (let start = 0; start < keys.length; start += 500) {
    const pipeline = stack.redis.pipeline();
    for (const key of keys.slice(start, start + 500)) pipeline.call("MEMORY", "USAGE", key, "SAMPLES", "0");
    for (const [error, bytes] of (await pipeline.exec()) ?? []) {
      if (error) throw error;
      total += Number(bytes ?? 0);
    }
  }
  return total / keys.length;
}

const usedMemory = async (stack: BenchStack) => Number(/^used_memory:(\d+)/m.exec(await stack.redis.info("memory"))![1]);

/**
 * Redis memory a waiting task holds: `count` tasks submitted (`?async=true`, 20 at a time) to a model
 * no worker serves, `INFO memory` `used_memory` before and after, and `MEMORY USAGE` of each one's event
 * stream (none: a task's stream opens with its first event after PENDING) and run-queue entry (`m:<id>`);
 * then the tasks are retired.
 */
async function waitingTaskMemory(stack: BenchStack, count: number) {
  const before = await usedMemory(stack);
  const ids: string[] = [];
  for (let start = 0; start < count; start += 20) {
    const answers = await Promise.all(
      Array.from({ length: Math.min(20, count - start) }, () =>
        requestJson<{ data: { data: { task_id: string } } }>(`${stack.apiUrl}/v1/ai/text_completion?async=true`, {
          key: stack.adminKey,
          body: { messages: [{ role: "user", content: "Tell me a story." }], configs: { model: IDLE_MODEL, max_tokens: 1_000, top_k: 10, top_p: 0.9, temperature: 0 } },
        }),
      ),
    );
    ids.push(...answers.map((answer) => answer.data.data.task_id));
  }
  await sleep(500);
  const after = await usedMemory(stack);
  const events = await meanMemoryUsage(stack, ids.map((id) => keySpace(stack.redisPrefix).taskEvents(id)));
  const entry = await meanMemoryUsage(stack, ids.map((id) => runQueueKeys(stack.redisPrefix, queueOf(IDLE_MODEL)).task(id)));
  await retireWaiting(stack, IDLE_MODEL, queueOf(IDLE_MODEL));
  return { perTask: (after - before) / count, events, entry };
}

interface Window {
  /** Concurrent clients. */
  streams: number;
  /** Streams (the task API SSE), or waited non-stream completions (the OpenAI dialect). */
  kind: "stream" | "waited";
  tasks: number;
  /** When its tasks were submitted (bench clock = Postgres clock: the same machine). */
  since: Date;
  until: Date;
  runSeconds: number;
  rowBytes: number;
  /** Mean MEMORY USAGE of its tasks' event streams (kept for an hour after the end). */
  eventBytes: number;
  cost: Map<string, number>;
  texts: Map<string, string>;
}

/** The largest entries of `prefix.*` per task, as "name 1.23" for the notes. */
function breakdown(window: Window, prefix: string, name: (key: string) => string): string {
  return [...window.cost]
    .filter(([key, n]) => key.startsWith(prefix) && n > 0)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 14)
    .map(([key, n]) => `${name(key.slice(prefix.length))} ${round1(n / window.tasks)}`)
    .join("; ");
}

/** A statement's text, short: its first 90 characters on one line. */
const statementName = (texts: Map<string, string>) => (queryid: string) => `\`${(texts.get(queryid) ?? queryid).replace(/\s+/g, " ").slice(0, 90)}\``;

/**
 * Figure 7: what one task (the upstream fixture's 40 tokens) costs each component, from submit to
 * completion: Redis (round trips, commands, network bytes, memory, CPU), Postgres (statements, commits,
 * WAL, table and index growth, CPU) and the API's and worker's CPU: streamed tasks (the task API SSE,
 * admin key) one at a time, waves of `costStreams` simultaneous streams, and `costStreams` clients
 * sending waited non-stream completions (the OpenAI dialect) back to back; then the table's bytes per
 * row, and last the Redis memory of a waiting task. Counts are deltas of cumulative counters
 * (bench/src/counters.ts), net of the stack's idle traffic and of reading them; sizes and memory are
 * differences of levels.
 */
export async function benchCosts(stack: BenchStack, config: BenchConfig, notes: string[]): Promise<Row[]> {
  const reader = await counterReader(stack);
  if (!reader.statements) notes.push("7. costs: pg_stat_statements is not loaded on this Postgres (scripts/bench.sh loads it on its own): statements per task not measured.");
  if (!reader.postgresCpu) notes.push("7. costs: Postgres's processes cannot be read from here (its postmaster.pid): Postgres CPU per task not measured.");
  const { reading, backgroundPerMs, last } = await calibrate(reader);
  notes.push(
    `7. costs: idle traffic subtracted per second: Redis ${round1((backgroundPerMs.get("redis.writes") ?? 0) * 1000)} round trips, ` +
      `${round1((backgroundPerMs.get("redis.commands") ?? 0) * 1000)} commands sent; Postgres ${round1((backgroundPerMs.get("pg.statements") ?? 0) * 1000)} statements; ` +
      `one reading of the counters: ${reading.get("redis.writes") ?? 0} Redis round trips (the API's /metrics queue depths), subtracted once per window.`,
  );
  const windows: Window[] = [];
  let start: Counters = last;
  for (const [kind, streams, waves] of [
    ["stream", 1, config.costSerialTasks],
    ["stream", config.costStreams, config.costWaves],
    ["waited", config.costStreams, config.costWaves],
  ] as const) {
    const since = new Date();
    if (kind === "stream") await runStreams(stack, streams, waves);
    else await runWaited(stack, streams, waves);
    const until = new Date();
    await sleep(STATS_SETTLE_MS);
    const end = await reader.read();
    windows.push({ kind, streams, tasks: streams * waves, since, until, runSeconds: 0, rowBytes: 0, eventBytes: 0, cost: attributed(start, end, reading, backgroundPerMs), texts: end.texts });
    start = end;
  }
  // Outside the windows: the bench's own queries must not be counted.
  for (const window of windows) {
    const found = await tasksBetween(stack, window.since, window.until);
    if (found.tasks !== window.tasks || found.completed !== window.tasks) throw new Error(`7. costs: ${window.tasks} ${window.kind} tasks at ${window.streams} made ${found.tasks} tasks, ${found.completed} completed`);
    window.runSeconds = found.seconds;
    window.rowBytes = found.rowBytes;
    window.eventBytes = await meanMemoryUsage(stack, found.ids.map((id) => keySpace(stack.redisPrefix).taskEvents(id)));
  }

  // The table's size per row as it stands after the figure: the disk a kept task takes at steady state,
  // free space left by updates and fillfactor included. With BENCH_ONLY=costs (scripts/bench.sh's fresh
  // database) every row is one of this figure's tasks, with the same prompt; in a whole run the other
  // figures' tasks are in it too. A window's growth above is coarser: pages come 8 KiB at a time, and
  // rows fill space that earlier updates freed.
  const table = (
    await stack.pg.query<{ rows: string; heap: string; indexes: string; toast: string }>(
      `SELECT (SELECT count(*) FROM tasks)::text AS rows, pg_relation_size('tasks')::text AS heap, pg_indexes_size('tasks')::text AS indexes,
              coalesce((SELECT pg_total_relation_size(reltoastrelid) FROM pg_class WHERE oid = 'tasks'::regclass AND reltoastrelid <> 0), 0)::text AS toast`,
    )
  ).rows[0]!;
  const perRow = (bytes: string) => Number(bytes) / Math.max(1, Number(table.rows));
  // Last: its tasks never run (their rows would be in the table's bytes per row above).
  const waiting = await waitingTaskMemory(stack, config.costWaitingTasks);
  const rows: Row[] = [
    row("7. costs", `tasks table bytes per row after the figure, heap (pg_relation_size / ${Number(table.rows).toLocaleString("en")} rows)`, "bytes", perRow(table.heap), null),
    row("7. costs", "tasks table bytes per row after the figure, indexes (pg_indexes_size / rows)", "bytes", perRow(table.indexes), null),
    row("7. costs", "tasks table bytes per row after the figure, TOAST", "bytes", perRow(table.toast), null),
    row("7. costs", `Redis memory per waiting task (INFO used_memory, ${config.costWaitingTasks.toLocaleString("en")} tasks queued on a model no worker serves)`, "bytes", waiting.perTask, null),
    row("7. costs", "of which its event stream (none until it starts or ends; MEMORY USAGE)", "bytes", waiting.events, null),
    row("7. costs", "of which its run-queue entry (m:<id> hash with the request's copy; MEMORY USAGE)", "bytes", waiting.entry, null),
  ];
  for (const window of windows) {
    const at = window.streams === 1 ? "1 stream at a time" : window.kind === "stream" ? `${window.streams} streams at once` : `${window.streams} clients waiting for non-stream completions`;
    const targeted = window.streams !== 1 && window.kind === "stream";
    const per = (key: string) => (window.cost.get(key) ?? 0) / window.tasks;
    const roundTrips = per("redis.writes");
    rows.push(row("7. costs", `Redis round trips per task (socket writes, API + worker), ${at}`, "round trips", roundTrips, null, targeted ? { text: "<= 4", met: roundTrips <= 4 } : null));
    rows.push(row("7. costs", `Redis commands sent per task (API + worker), ${at}`, "commands", per("redis.commands"), null));
    rows.push(row("7. costs", `Redis commands executed per task (INFO commandstats, Lua scripts' own included), ${at}`, "commands", per("redis.server"), null));
    if (reader.statements) {
      const statements = per("pg.statements");
      rows.push(row("7. costs", `Postgres statements per task (pg_stat_statements, BEGIN/COMMIT included), ${at}`, "statements", statements, null, targeted ? { text: "<= 3", met: statements <= 3 } : null));
    }
    rows.push(row("7. costs", `Postgres commits per task (xact_commit), ${at}`, "commits", per("pg.commits"), null));
    const updates = window.cost.get("tasks.upd") ?? 0;
    const hotShare = updates > 0 ? (100 * (window.cost.get("tasks.hot") ?? 0)) / updates : Number.NaN;
    rows.push(row("7. costs", `HOT share of task row updates, ${at}`, "%", hotShare, null, { text: ">= 90 %", met: hotShare >= 90 }));
    rows.push(row("7. costs", `Postgres row updates per task (${config.streamTokens} tokens), ${at}`, "updates", updates / window.tasks, config.streamTokens));
    if (targeted) {
      // Start and completion are one update each; checkpoints come at most every CHECKPOINT_INTERVAL_MS (500).
      const checkpointsPerSecond = (updates - 2 * window.tasks) / Math.max(0.001, window.runSeconds);
      rows.push(row("7. costs", `progress writes per second of a running task, ${at}`, "writes/s", checkpointsPerSecond, null, { text: "<= 2/s (coalesced)", met: checkpointsPerSecond <= 2 }));
    }
    if (window.streams !== 1) {
      // Steady load: what each component spends per task, for docs/scaling.md's sizing.
      rows.push(row("7. costs", `Postgres WAL per task (pg_current_wal_lsn, whole server), ${at}`, "bytes", per("pg.wal"), null));
      rows.push(row("7. costs", `tasks table growth per task: heap (pg_relation_size), ${at}`, "bytes", per("size.heap"), null));
      rows.push(row("7. costs", `tasks table growth per task: indexes (pg_indexes_size), ${at}`, "bytes", per("size.indexes"), null));
      rows.push(row("7. costs", `tasks table growth per task: TOAST, ${at}`, "bytes", per("size.toast"), null));
      rows.push(row("7. costs", `growth per task of the tables hanging off tasks (webhooks, idempotency, batches, files), ${at}`, "bytes", per("size.dependants"), null));
      rows.push(row("7. costs", `stored size of a task row (mean pg_column_size), ${at}`, "bytes", window.rowBytes, null));
      rows.push(row("7. costs", `Redis memory per finished task, events kept (INFO used_memory), ${at}`, "bytes", per("redis.memory"), null));
      rows.push(row("7. costs", `of which its event stream (MEMORY USAGE), ${at}`, "bytes", window.eventBytes, null));
      rows.push(row("7. costs", `Redis network bytes in per task (INFO total_net_input_bytes), ${at}`, "bytes", per("redis.netin"), null));
      rows.push(row("7. costs", `Redis network bytes out per task (INFO total_net_output_bytes), ${at}`, "bytes", per("redis.netout"), null));
      rows.push(row("7. costs", `API CPU per task (all its processes, /proc), ${at}`, "ms", per("cpu.api"), null));
      rows.push(row("7. costs", `worker CPU per task (/proc), ${at}`, "ms", per("cpu.worker"), null));
      rows.push(row("7. costs", `Redis CPU per task (INFO used_cpu_sys + used_cpu_user), ${at}`, "ms", per("cpu.redis"), null));
      if (reader.postgresCpu) rows.push(row("7. costs", `Postgres CPU per task (every server process, /proc), ${at}`, "ms", per("cpu.pg"), null));
      notes.push(
        `7. costs, ${at}: ${window.tasks} tasks in ${round1((window.until.getTime() - window.since.getTime()) / 1000)} s (${round1((1000 * window.tasks) / Math.max(1, window.until.getTime() - window.since.getTime()))} tasks/s); CPU per task over the window, idle rate subtracted (ms): API ${round1(per("cpu.api"))}, worker ${round1(per("cpu.worker"))}, Redis ${round1(per("cpu.redis"))}, Postgres ${reader.postgresCpu ? round1(per("cpu.pg")) : "not measured"}.`,
      );
    }
    notes.push(
      `7. costs, ${at}, ${window.tasks} tasks: ${window.cost.get("pg.sessions") ?? 0} new Postgres connections (pools reopening after the pause between windows; their start-up transactions are not in the commits).`,
    );
    notes.push(`7. costs, ${at}: Redis round trips per task by connection: ${breakdown(window, "writes.", (name) => name)}.`);
    notes.push(`7. costs, ${at}: Redis commands executed per task by name: ${breakdown(window, "cmd.", (name) => name)}.`);
    if (reader.statements) notes.push(`7. costs, ${at}: Postgres statements per task: ${breakdown(window, "sql.", statementName(window.texts))}.`);
  }
  return rows;
}
