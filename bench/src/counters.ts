import fs from "node:fs";
import { cpuMs, nodeProcesses, processTree } from "./processes";
import type { BenchStack } from "./stack";
import { sleep } from "./stats";

/**
 * Cumulative counts of the whole stack at one moment, read before and after a workload (figure 7):
 * - `redis.writes` / `redis.commands`: socket writes (round trips started) and commands sent by the API
 *   and the running workers, from their `llmq_redis_sent_total` (REDIS_STATS=1, packages/queue/src/redis-stats.ts);
 *   `writes.<connection>`: the writes of each connection name (the API's and the workers' added together);
 * - `redis.server` and `cmd.<name>`: commands Redis executed (`INFO commandstats`; commands run inside
 *   Lua scripts, BullMQ's, count there too; INFO itself is left out);
 * - `pg.statements` and `sql.<queryid>`: statements the service's database ran (`pg_stat_statements`,
 *   top level, BEGIN and COMMIT included), the bench's own reading of the statistics and the API's
 *   `/metrics` task count (GROUP BY) left out;
 * - `pg.commits`: committed transactions of that database (`pg_stat_database.xact_commit`) less the
 *   bench's own readings and the start-up transaction of each new connection (`pg.sessions`);
 * - `tasks.ins` / `tasks.upd` / `tasks.hot`: rows inserted, updated, and updated HOT in `tasks`
 *   (`pg_stat_user_tables`);
 * - `pg.wal`: bytes of write-ahead log the whole server wrote (`pg_current_wal_lsn()`, as a byte offset);
 * - `redis.netin` / `redis.netout`: bytes Redis read from and wrote to all its clients (`INFO stats`
 *   `total_net_input_bytes` / `total_net_output_bytes`);
 * - `cpu.api`, `cpu.worker`, `cpu.redis`, `cpu.pg`: CPU time (user + system, ms) of the API's Node
 *   processes and of the running workers' (`/proc/<pid>/stat`, 10 ms ticks), of Redis (`INFO cpu`, µs),
 *   and of the whole Postgres server (the postmaster, every backend and auxiliary process alive, and
 *   the children it already reaped, from the postmaster's `cutime`/`cstime`; only when the bench can
 *   read its `postmaster.pid`, i.e. Postgres runs on this machine);
 * - levels, not counters (see `LEVELS`): `redis.memory` (`INFO memory` `used_memory`) and `size.<part>`,
 *   the on-disk size of `tasks` (`size.heap`, `size.indexes`, `size.toast`: main fork, `pg_indexes_size`,
 *   the TOAST table with its index) and of the tables that hang off a task (`size.dependants`: webhook
 *   deliveries and attempts, idempotency keys, batches, files and their chunks, `pg_total_relation_size`).
 */
export interface Counters {
  /** performance.now() when read. */
  at: number;
  values: Map<string, number>;
  /** Statement texts by queryid (normalised by pg_stat_statements). */
  texts: Map<string, string>;
}

/** Statements of the bench's observation, not of a task: reading the statistics and the relation sizes, and the API's /metrics count of tasks. */
const OBSERVATION = /pg_stat_|GROUP BY|pg_indexes_size/i;

/**
 * Postgres reports a backend's table and database statistics (pg_stat_user_tables, pg_stat_database) up
 * to 10 s late (PGSTAT_IDLE_INTERVAL, measured here: 10.04 s): read them this long after a workload.
 * Redis's counts and pg_stat_statements are current at once.
 */
export const STATS_SETTLE_MS = 11_000;

/** Counts Postgres reports late: neither a back-to-back reading nor an idle rate can be taken from them (see attributed). */
const reportedLate = (key: string) => key === "pg.commits" || key === "pg.sessions" || key.startsWith("tasks.");

/** Amounts held now rather than counts of work done: their difference is taken as it is (no idle rate, no reading's cost). */
const LEVELS = (key: string) => key === "redis.memory" || key.startsWith("size.");

/** Taken as measured: counts reported late, and levels. */
const asMeasured = (key: string) => reportedLate(key) || LEVELS(key);

/** Tables whose rows belong to tasks (besides `tasks` itself): what a task may add beside its row. */
const DEPENDANTS = ["webhook_deliveries", "webhook_attempts", "idempotency_keys", "batches", "files", "file_chunks"];

/** The oid of the service's database (pg_stat_statements and pg_stat_database name databases by it). */
export async function serviceDatabaseOid(stack: BenchStack): Promise<string> {
  return (await stack.pg.query<{ oid: string }>("SELECT oid::text FROM pg_database WHERE datname = current_database()")).rows[0]!.oid;
}

/**
 * The top-level statements database `dbid` has run so far by pg_stat_statements (BEGIN and COMMIT
 * included), less the bench's own observation (OBSERVATION), whose calls are summed apart.
 */
export async function statementsRun(stack: BenchStack, dbid: string): Promise<{ rows: { queryid: string; calls: string; query: string }[]; observation: number }> {
  const { rows } = await stack.observer.query<{ queryid: string; calls: string; query: string }>(
    "SELECT queryid::text, calls::text, query FROM pg_stat_statements WHERE dbid = $1::oid AND toplevel",
    [dbid],
  );
  const observed = rows.filter((r) => OBSERVATION.test(r.query));
  return { rows: rows.filter((r) => !OBSERVATION.test(r.query)), observation: observed.reduce((sum, r) => sum + Number(r.calls), 0) };
}

export interface CounterReader {
  read(): Promise<Counters>;
  /** False when the server has no pg_stat_statements loaded (then statements are not counted). */
  statements: boolean;
  /** False when Postgres's processes cannot be read here (another machine, or no access): then `cpu.pg` is not counted. */
  postgresCpu: boolean;
}

/** CPU ms of the Postgres server: every process under the postmaster, and the children it reaped (cutime + cstime). */
function postgresCpuMs(postmaster: number): number {
  const fields = fs.readFileSync(`/proc/${postmaster}/stat`, "utf8").split(") ")[1]!.split(" ");
  // Fields 16 and 17 of stat (cutime, cstime) are 13 and 14 here: the split dropped pid and comm.
  return cpuMs(processTree(postmaster)) + (Number(fields[13]) + Number(fields[14])) * 10;
}

/** The postmaster's pid, from `postmaster.pid` in the data directory, or null when it cannot be read from here. */
async function postmasterPid(stack: BenchStack): Promise<number | null> {
  try {
    const dir = (await stack.observer.query<{ data_directory: string }>("SHOW data_directory")).rows[0]!.data_directory;
    const pid = Number(fs.readFileSync(`${dir}/postmaster.pid`, "utf8").split("\n")[0]);
    postgresCpuMs(pid);
    return pid;
  } catch {
    return null;
  }
}

/** A number field of Redis's INFO text. */
function infoField(info: string, name: string): number {
  const match = new RegExp(`^${name}:([0-9.]+)`, "m").exec(info);
  if (!match) throw new Error(`INFO has no ${name}`);
  return Number(match[1]);
}

/** A process's Redis traffic from its `llmq_redis_sent_total{kind,connection}` series: in all, and by connection name. */
async function sentByProcess(url: string, headers: Record<string, string> = {}): Promise<{ writes: number; commands: number; byConnection: Map<string, number> }> {
  const text = await (await fetch(url, { headers })).text();
  const sent = { writes: 0, commands: 0, byConnection: new Map<string, number>() };
  let series = 0;
  for (const [, labels, value] of text.matchAll(/^llmq_redis_sent_total\{([^}]*)\} (\d+)$/gm)) {
    const kind = /kind="(\w+)"/.exec(labels!)?.[1];
    const connection = connectionLabel(/connection="([^"]*)"/.exec(labels!)?.[1] ?? "unnamed");
    series++;
    if (kind === "writes") {
      sent.writes += Number(value);
      sent.byConnection.set(connection, (sent.byConnection.get(connection) ?? 0) + Number(value));
    } else if (kind === "commands") sent.commands += Number(value);
  }
  if (series === 0) throw new Error(`${url} serves no llmq_redis_sent_total (REDIS_STATS=1 not in effect?)`);
  return sent;
}

/** A connection's name, short: BullMQ's own (`<prefix>:bull:{queue}:<base64 queue>`) become `bullmq {queue}`. */
function connectionLabel(name: string): string {
  const bull = /:bull:(\{[^}]*\})/.exec(name);
  return bull ? `bullmq ${bull[1]}` : name;
}

export async function counterReader(stack: BenchStack): Promise<CounterReader> {
  const dbid = await serviceDatabaseOid(stack);
  let statements = true;
  try {
    await stack.observer.query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements");
    await stack.observer.query("SELECT 1 FROM pg_stat_statements LIMIT 1");
  } catch {
    statements = false;
  }
  const postmaster = await postmasterPid(stack);
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
      for (const [connection, writes] of sent.byConnection) add(`writes.${connection}`, writes);
    }
    values.set("cpu.api", cpuMs(nodeProcesses(stack.api.child.pid!)));
    values.set("cpu.worker", cpuMs(stack.workers().flatMap((worker) => nodeProcesses(worker.child.pid!))));
    if (postmaster !== null) values.set("cpu.pg", postgresCpuMs(postmaster));
    const info = (await stack.redis.call("INFO", "commandstats", "stats", "cpu", "memory")) as string;
    for (const [, name, calls] of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
      if (name === "info") continue;
      add(`cmd.${name}`, Number(calls));
      add("redis.server", Number(calls));
    }
    values.set("redis.netin", infoField(info, "total_net_input_bytes"));
    values.set("redis.netout", infoField(info, "total_net_output_bytes"));
    values.set("cpu.redis", (infoField(info, "used_cpu_sys") + infoField(info, "used_cpu_user")) * 1000);
    values.set("redis.memory", infoField(info, "used_memory"));
    let observation = 0;
    if (statements) {
      const run = await statementsRun(stack, dbid);
      observation = run.observation;
      for (const r of run.rows) {
        add(`sql.${r.queryid}`, Number(r.calls));
        add("pg.statements", Number(r.calls));
        texts.set(r.queryid, r.query);
      }
    }
    const db = (await stack.observer.query<{ commits: string; sessions: string }>("SELECT xact_commit::text AS commits, sessions::text AS sessions FROM pg_stat_database WHERE datid = $1::oid", [dbid])).rows[0]!;
    const wal = (await stack.observer.query<{ bytes: string }>("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::text AS bytes")).rows[0]!;
    values.set("pg.wal", Number(wal.bytes));
    const sizes = (
      await stack.pg.query<{ heap: string; indexes: string; toast: string; dependants: string }>(
        `SELECT pg_relation_size('tasks')::text AS heap, pg_indexes_size('tasks')::text AS indexes,
                coalesce((SELECT pg_total_relation_size(reltoastrelid) FROM pg_class WHERE oid = 'tasks'::regclass AND reltoastrelid <> 0), 0)::text AS toast,
                (SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c WHERE c.relname = ANY($1::text[]) AND c.relkind = 'r')::text AS dependants`,
        [DEPENDANTS],
      )
    ).rows[0]!;
    values.set("size.heap", Number(sizes.heap));
    values.set("size.indexes", Number(sizes.indexes));
    values.set("size.toast", Number(sizes.toast));
    values.set("size.dependants", Number(sizes.dependants));
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
  return { read, statements, postgresCpu: postmaster !== null };
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
    out.set(key, asMeasured(key) ? value : Math.max(0, value - (reading.get(key) ?? 0) - (backgroundPerMs.get(key) ?? 0) * ms));
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
    if (!asMeasured(key)) backgroundPerMs.set(key, Math.max(0, value - (reading.get(key) ?? 0)) / (last.at - second.at));
  }
  return { reading, backgroundPerMs, last };
}
