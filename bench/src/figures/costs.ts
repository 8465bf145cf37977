import type { BenchConfig } from "../config";
import { type Counters, STATS_SETTLE_MS, attributed, calibrate, counterReader } from "../counters";
import { timeStream } from "../http-client";
import { type Row, row } from "../report";
import { type BenchStack, UPSTREAM_MODEL } from "../stack";
import { sleep } from "../stats";
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

/** Tasks of the upstream model created in [since, until], and their summed run time (started -> completed) in seconds. */
async function tasksBetween(stack: BenchStack, since: Date, until: Date) {
  const { rows } = await stack.pg.query<{ n: string; completed: string; s: number | null }>(
    `SELECT count(*) AS n, count(*) FILTER (WHERE status = 'COMPLETED') AS completed, sum(extract(epoch FROM completed_at - started_at))::float8 AS s
       FROM tasks WHERE model = $1 AND created_at BETWEEN $2 AND $3`,
    [UPSTREAM_MODEL, since, until],
  );
  return { tasks: Number(rows[0]!.n), completed: Number(rows[0]!.completed), seconds: rows[0]!.s ?? 0 };
}

interface Window {
  streams: number;
  tasks: number;
  /** When its tasks were submitted (bench clock = Postgres clock: the same machine). */
  since: Date;
  until: Date;
  runSeconds: number;
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
 * Figure 7: what one streamed task (the upstream fixture's 40 tokens, through the task API SSE with the
 * admin key) costs Redis and Postgres, from submit to completion, in the API and the worker together:
 * first tasks one at a time, then waves of `costStreams` simultaneous streams. Counts are deltas of
 * cumulative counters (bench/src/counters.ts), net of the stack's idle traffic and of reading them.
 */
export async function benchCosts(stack: BenchStack, config: BenchConfig, notes: string[]): Promise<Row[]> {
  const reader = await counterReader(stack);
  if (!reader.statements) notes.push("7. costs: pg_stat_statements is not loaded on this Postgres (scripts/bench.sh loads it on its own): statements per task not measured.");
  const { reading, backgroundPerMs, last } = await calibrate(reader);
  notes.push(
    `7. costs: idle traffic subtracted per second: Redis ${round1((backgroundPerMs.get("redis.writes") ?? 0) * 1000)} round trips, ` +
      `${round1((backgroundPerMs.get("redis.commands") ?? 0) * 1000)} commands sent; Postgres ${round1((backgroundPerMs.get("pg.statements") ?? 0) * 1000)} statements; ` +
      `one reading of the counters: ${reading.get("redis.writes") ?? 0} Redis round trips (the API's /metrics queue depths), subtracted once per window.`,
  );
  const windows: Window[] = [];
  let start: Counters = last;
  for (const [streams, waves] of [
    [1, config.costSerialTasks],
    [config.costStreams, config.costWaves],
  ] as const) {
    const since = new Date();
    await runStreams(stack, streams, waves);
    const until = new Date();
    await sleep(STATS_SETTLE_MS);
    const end = await reader.read();
    windows.push({ streams, tasks: streams * waves, since, until, runSeconds: 0, cost: attributed(start, end, reading, backgroundPerMs), texts: end.texts });
    start = end;
  }
  // Outside the windows: the bench's own queries must not be counted.
  for (const window of windows) {
    const found = await tasksBetween(stack, window.since, window.until);
    if (found.tasks !== window.tasks || found.completed !== window.tasks) throw new Error(`7. costs: ${window.tasks} streams at ${window.streams} made ${found.tasks} tasks, ${found.completed} completed`);
    window.runSeconds = found.seconds;
  }

  const rows: Row[] = [];
  for (const window of windows) {
    const at = window.streams === 1 ? "1 stream at a time" : `${window.streams} streams at once`;
    const targeted = window.streams !== 1;
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
    notes.push(
      `7. costs, ${at}, ${window.tasks} tasks: ${window.cost.get("pg.sessions") ?? 0} new Postgres connections (pools reopening after the pause between windows; their start-up transactions are not in the commits).`,
    );
    notes.push(`7. costs, ${at}: Redis commands executed per task by name: ${breakdown(window, "cmd.", (name) => name)}.`);
    if (reader.statements) notes.push(`7. costs, ${at}: Postgres statements per task: ${breakdown(window, "sql.", statementName(window.texts))}.`);
  }
  return rows;
}
