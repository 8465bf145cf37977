import type { BenchStack } from "./stack";
import { sleep } from "./stats";

/**
 * Cumulative counts of the whole stack at one moment, read before and after a workload (figure 7):
 * - `redis.writes` / `redis.commands`: socket writes (round trips started) and commands sent by the API
 *   and the running workers, from their `llmq_redis_sent_total` (REDIS_STATS=1, packages/queue/src/redis-stats.ts);
 * - `redis.server` and `cmd.<name>`: commands Redis executed (`INFO commandstats`; commands run inside
 *   Lua scripts, BullMQ's, count there too; INFO itself is left out);
 * - `pg.statements` and `sql.<queryid>`: statements the service's database ran (`pg_stat_statements`,
 *   top level, BEGIN and COMMIT included), the bench's own reading of the statistics and the API's
 *   `/metrics` task count (GROUP BY) left out;
 * - `pg.commits`: committed transactions of that database (`pg_stat_database.xact_commit`) less the
 *   bench's own readings and the start-up transaction of each new connection (`pg.sessions`);
 * - `tasks.ins` / `tasks.upd` / `tasks.hot`: rows inserted, updated, and updated HOT in `tasks`
 *   (`pg_stat_user_tables`).
 */
export interface Counters {
  /** performance.now() when read. */
  at: number;
  values: Map<string, number>;
  /** Statement texts by queryid (normalised by pg_stat_statements). */
  texts: Map<string, string>;
}

/** Statements of the bench's observation, not of a task: reading the statistics, and the API's /metrics count of tasks. */
const OBSERVATION = /pg_stat_|GROUP BY/i;

/**
 * Postgres reports a backend's table and database statistics (pg_stat_user_tables, pg_stat_database) up
 * to 10 s late (PGSTAT_IDLE_INTERVAL, measured here: 10.04 s): read them this long after a workload.
 * Redis's counts and pg_stat_statements are current at once.
 */
export const STATS_SETTLE_MS = 11_000;

/** Counts Postgres reports late: neither a back-to-back reading nor an idle rate can be taken from them (see attributed). */
const reportedLate = (key: string) => key === "pg.commits" || key === "pg.sessions" || key.startsWith("tasks.");

export interface CounterReader {
  read(): Promise<Counters>;
  /** False when the server has no pg_stat_statements loaded (then statements are not counted). */
  statements: boolean;
}

async function sentByProcess(url: string, headers: Record<string, string> = {}): Promise<{ writes: number; commands: number }> {
  const text = await (await fetch(url, { headers })).text();
  const value = (kind: string) => {
    const match = new RegExp(`^llmq_redis_sent_total\\{kind="${kind}"\\} (\\d+)`, "m").exec(text);
    if (!match) throw new Error(`${url} serves no llmq_redis_sent_total (REDIS_STATS=1 not in effect?)`);
    return Number(match[1]);
  };
  return { writes: value("writes"), commands: value("commands") };
}

export async function counterReader(stack: BenchStack): Promise<CounterReader> {
  const dbid = (await stack.pg.query<{ oid: string }>("SELECT oid::text FROM pg_database WHERE datname = current_database()")).rows[0]!.oid;
  let statements = true;
  try {
    await stack.observer.query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements");
    await stack.observer.query("SELECT 1 FROM pg_stat_statements LIMIT 1");
  } catch {
    statements = false;
  }
  const read = async (): Promise<Counters> => {
    const at = performance.now();
    const values = new Map<string, number>();
    const texts = new Map<string, string>();
    const add = (key: string, n: number) => values.set(key, (values.get(key) ?? 0) + n);
    const processes = await Promise.all([
      sentByProcess(`${stack.apiUrl}/metrics`, { authorization: `Bearer ${stack.adminKey}` }),
      ...stack.workers().map((worker) => sentByProcess(worker.metricsUrl)),
    ]);
    for (const sent of processes) {
      add("redis.writes", sent.writes);
      add("redis.commands", sent.commands);
    }
    const info = await stack.redis.info("commandstats");
    for (const [, name, calls] of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
      if (name === "info") continue;
      add(`cmd.${name}`, Number(calls));
      add("redis.server", Number(calls));
    }
    let observation = 0;
    if (statements) {
      const { rows } = await stack.observer.query<{ queryid: string; calls: string; query: string }>(
        "SELECT queryid::text, calls::text, query FROM pg_stat_statements WHERE dbid = $1::oid AND toplevel",
        [dbid],
      );
      for (const r of rows) {
        if (OBSERVATION.test(r.query)) {
          observation += Number(r.calls);
          continue;
        }
        add(`sql.${r.queryid}`, Number(r.calls));
        add("pg.statements", Number(r.calls));
        texts.set(r.queryid, r.query);
      }
    }
    const db = (await stack.observer.query<{ commits: string; sessions: string }>("SELECT xact_commit::text AS commits, sessions::text AS sessions FROM pg_stat_database WHERE datid = $1::oid", [dbid])).rows[0]!;
    const table = (await stack.pg.query<{ ins: string; upd: string; hot: string }>("SELECT n_tup_ins::text AS ins, n_tup_upd::text AS upd, n_tup_hot_upd::text AS hot FROM pg_stat_user_tables WHERE relname = 'tasks'")).rows[0]!;
    // Each observation statement is a transaction of its own (autocommit; this reading's own is counted at
    // the next one), and so is each new connection's start-up: pools reopen connections that idled past
    // their timeout (10 s) between windows, which is the bench's pause, not a task's cost.
    values.set("pg.commits", Number(db.commits) - observation - Number(db.sessions));
    values.set("pg.sessions", Number(db.sessions));
    values.set("tasks.ins", Number(table.ins));
    values.set("tasks.upd", Number(table.upd));
    values.set("tasks.hot", Number(table.hot));
    return { at, values, texts };
  };
  return { read, statements };
}

/** `after - before`, key by key. */
export function difference(before: Counters, after: Counters): Map<string, number> {
  const out = new Map<string, number>();
  for (const [key, value] of after.values) out.set(key, value - (before.values.get(key) ?? 0));
  return out;
}

/**
 * What a workload between `before` and `after` cost, net of the stack's own background (heartbeats,
 * BullMQ's idle fetches and stall checks; `backgroundPerMs`, from an idle window) and of one reading
 * of the counters (`reading`: two readings back to back). Counts Postgres reports late are taken as
 * they are: the window must end STATS_SETTLE_MS after the workload; the bench's own statements are
 * already out of them, and no background writes `tasks`.
 */
export function attributed(before: Counters, after: Counters, reading: Map<string, number>, backgroundPerMs: Map<string, number>): Map<string, number> {
  const ms = after.at - before.at;
  const out = new Map<string, number>();
  for (const [key, value] of difference(before, after)) {
    out.set(key, reportedLate(key) ? value : Math.max(0, value - (reading.get(key) ?? 0) - (backgroundPerMs.get(key) ?? 0) * ms));
  }
  return out;
}

export interface Calibration {
  /** What one reading of the counters costs (two readings back to back). */
  reading: Map<string, number>;
  /** The stack's traffic per ms with nothing to do (STATS_SETTLE_MS idle). */
  backgroundPerMs: Map<string, number>;
  /** The last reading, STATS_SETTLE_MS after the others: where the first measured window starts. */
  last: Counters;
}

/** Reads the counters twice back to back, then once more after STATS_SETTLE_MS idle (which also lets earlier figures' statistics arrive). */
export async function calibrate(reader: CounterReader): Promise<Calibration> {
  const first = await reader.read();
  const second = await reader.read();
  const reading = difference(first, second);
  await sleep(STATS_SETTLE_MS);
  const last = await reader.read();
  const backgroundPerMs = new Map<string, number>();
  for (const [key, value] of difference(second, last)) {
    if (!reportedLate(key)) backgroundPerMs.set(key, Math.max(0, value - (reading.get(key) ?? 0)) / (last.at - second.at));
  }
  return { reading, backgroundPerMs, last };
}
