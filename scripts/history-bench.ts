// Times the queries that read a long history (docs/performance.md, "History at 10 million rows"): each
// through the repository functions the app calls, on the real pg pool, RUNS times with varied parameters,
// then the HTTP lists through a spawned API process; and the plan of one run of each (auto_explain,
// ANALYZE and BUFFERS, the statement exactly as the app sends it). Run by scripts/history-bench.sh.
import fs from "node:fs";
import os from "node:os";
import { BatchRepository, type Database, IdempotencyRepository, RetentionRepository, TaskRepository, TaskStatsRepository, UserRepository, WebhookDeliveryRepository, createDatabase, encodeCursor } from "@llmq/db";
import type { TaskStatus } from "@llmq/core";
import { history, spawnService, startPrivateRedis } from "@llmq/testkit";
import { poolOf } from "../packages/db/src/client";

const url = process.env.DATABASE_URL!;
const RUNS = Number(process.env.HISTORY_RUNS ?? 200);
const ONLY = process.env.HISTORY_ONLY ? new RegExp(process.env.HISTORY_ONLY) : null;
const OUT = process.env.HISTORY_REPORT ?? "/tmp/llmq-history-report.md";
const PLANS = process.env.HISTORY_PLANS ?? "/tmp/llmq-history-plans.txt";
/** A case stops early once it has spent this long (a slow query still gets its runs' p50 and p99). */
const CASE_BUDGET_MS = Number(process.env.HISTORY_CASE_BUDGET_MS ?? 30_000);

/** Deterministic pseudo-random numbers (mulberry32), so two runs ask the same questions. */
function random(seed: number): () => number {
  return () => {
    seed |= 0;
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rand = random(17);
const pick = <T>(items: readonly T[]): T => items[Math.floor(rand() * items.length)]!;

interface Case {
  name: string;
  /** One run, with its own parameters (i: the run's number). */
  run: (i: number) => Promise<unknown>;
  /** Runs inside BEGIN ... ROLLBACK on the single-connection pool (statements that change rows). */
  rollback?: boolean;
}

interface Result {
  name: string;
  runs: number;
  p50: number;
  p99: number;
  max: number;
}

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;

async function time(label: string, runs: number, run: (i: number) => Promise<unknown>, around?: { before: () => Promise<unknown>; after: () => Promise<unknown> }): Promise<Result> {
  const times: number[] = [];
  const started = Date.now();
  // Two warm-up runs (statement preparation, the first touch of an index), not counted.
  for (let i = 0; i < runs + 2; i++) {
    await around?.before();
    const t0 = process.hrtime.bigint();
    await run(i);
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    await around?.after();
    if (i >= 2) times.push(ms);
    if (Date.now() - started > CASE_BUDGET_MS && times.length >= 20) break;
  }
  times.sort((a, b) => a - b);
  return { name: label, runs: times.length, p50: quantile(times, 0.5), p99: quantile(times, 0.99), max: times[times.length - 1]! };
}

async function main(): Promise<void> {
  const db = createDatabase({ databaseUrl: url, poolSize: 1 });
  const pool = poolOf(db);

  const keys = Number((await pool.query<{ n: string }>("SELECT count(*) AS n FROM api_keys WHERE key_hash LIKE '%'")).rows[0]!.n);
  const size = (await pool.query<{ rows: string; heap: string; indexes: string }>(
    "SELECT (SELECT reltuples::bigint FROM pg_class WHERE relname = 'tasks') AS rows, pg_size_pretty(pg_table_size('tasks')) AS heap, pg_size_pretty(pg_indexes_size('tasks')) AS indexes",
  )).rows[0]!;
  // Parameters drawn from the data: random rows (cursors, ids, owners), batches, and the users by size.
  const sample = (await pool.query<{ id: string; owner: string; created: Date; batch: string | null }>(
    "SELECT task_id AS id, owner_id AS owner, created_at AS created, batch_id AS batch FROM tasks TABLESAMPLE SYSTEM (0.05) REPEATABLE (7) LIMIT 5000",
  )).rows;
  const owners = Array.from({ length: keys }, (_, n) => history.userId(n + 1));
  const heavy = history.userId(1);
  const bigBatches = (await pool.query<{ id: string; owner: string }>("SELECT id, owner_id AS owner FROM batches ORDER BY total_count DESC, id LIMIT 20")).rows;
  const smallBatches = (await pool.query<{ id: string; owner: string }>("SELECT id, owner_id AS owner FROM batches ORDER BY total_count ASC, id LIMIT 20")).rows;
  const openBatch = (await pool.query<{ id: string }>("SELECT id FROM batches WHERE status = 'in_progress' ORDER BY total_count DESC LIMIT 1")).rows[0]?.id;
  const newest = (await pool.query<{ at: Date }>("SELECT max(created_at) AS at FROM tasks")).rows[0]!.at;
  // The sweeper's clock: the newest end in the data is "now", as if tasks kept ending (the fill may be hours old).
  const newestEnd = (await pool.query<{ at: Date }>("SELECT max(completed_at) AS at FROM tasks WHERE webhook IS NOT NULL AND completed_at IS NOT NULL")).rows[0]!.at ?? new Date();
  const openIds = (await pool.query<{ id: string }>("SELECT task_id AS id FROM tasks WHERE completed_at IS NULL")).rows.map((r) => r.id);
  const recentIds = (await pool.query<{ id: string }>("SELECT task_id AS id FROM tasks ORDER BY created_at DESC, task_id DESC LIMIT 5000")).rows.map((r) => r.id);
  const anyIds = sample.map((r) => r.id);
  const days = (n: number) => n * 86_400_000;
  const randomDay = () => new Date(newest.getTime() - Math.floor(rand() * 59) * days(1) - days(1));
  const user = (i: number) => ({ userId: i % 10 === 0 ? heavy : pick(owners), isAdmin: false });
  const adminViewer = { userId: "00000000-0000-4000-8000-000000000001", isAdmin: true };
  const limit = 50;
  const statuses: TaskStatus[] = ["COMPLETED", "FAILED", "CANCELLED", "EXPIRED", "PENDING", "RUNNING"];

  const casesOf = (db: Database): Case[] => {
    const pool = poolOf(db);
    const tasks = new TaskRepository(db);
    const batches = new BatchRepository(db);
    const users = new UserRepository(db);
    const stats = new TaskStatsRepository(db);
    const retention = new RetentionRepository(db);
    const deliveries = new WebhookDeliveryRepository(db);
    const idempotency = new IdempotencyRepository(db);
    return [
    { name: "owner: first page", run: (i: number) => tasks.history({ viewer: user(i), limit }) },
    { name: "owner: first page, heaviest tenant", run: () => tasks.history({ viewer: { userId: heavy, isAdmin: false }, limit }) },
    {
      name: "owner: a deep page (cursor of a random row)",
      run: () => {
        const row = pick(sample);
        return tasks.history({ viewer: { userId: row.owner, isAdmin: false }, cursor: { createdAt: row.created, id: row.id }, limit });
      },
    },
    ...statuses.map((status): Case => ({ name: `owner: status ${status}`, run: (i: number) => tasks.history({ viewer: user(i), status, limit }) })),
    // The statement before final_status (issue 17), on the same data and load: the user's history walked newest first.
    ...(["COMPLETED", "FAILED", "CANCELLED", "EXPIRED"] as const).map(
      (status): Case => ({
        name: `owner: status ${status}, the statement before final_status`,
        run: (i: number) =>
          pool.query(`SELECT * FROM tasks WHERE owner_id = $1::uuid AND status = $2::"TaskStatus" ORDER BY created_at DESC, task_id DESC LIMIT $3`, [user(i).userId, status, limit + 1]),
      }),
    ),
    ...history.models.map((model): Case => ({ name: `owner: model ${model}`, run: (i: number) => tasks.history({ viewer: user(i), model, limit }) })),
    {
      name: "owner: one batch (50,000 / 5,000 items)",
      run: (i: number) => {
        const batch = i % 2 === 0 ? pick(bigBatches) : pick(smallBatches);
        return tasks.history({ viewer: { userId: batch.owner, isAdmin: false }, batchId: batch.id, limit });
      },
    },
    {
      name: "owner: one day",
      run: (i: number) => {
        const from = randomDay();
        return tasks.history({ viewer: user(i), createdFrom: from, createdTo: new Date(from.getTime() + days(1)), limit });
      },
    },
    {
      name: "owner: status FAILED + model + a week",
      run: (i: number) => {
        const from = randomDay();
        return tasks.history({ viewer: user(i), status: "FAILED", model: "llama-3.1-8b-instruct", createdFrom: new Date(from.getTime() - days(7)), createdTo: from, limit });
      },
    },
    { name: "admin: first page", run: () => tasks.history({ viewer: adminViewer, limit }) },
    {
      name: "admin: a deep page (cursor of a random row)",
      run: () => {
        const row = pick(sample);
        return tasks.history({ viewer: adminViewer, cursor: { createdAt: row.created, id: row.id }, limit });
      },
    },
    ...statuses.map((status): Case => ({ name: `admin: status ${status}`, run: () => tasks.history({ viewer: adminViewer, status, limit }) })),
    ...history.models.map((model): Case => ({ name: `admin: model ${model}`, run: () => tasks.history({ viewer: adminViewer, model, limit }) })),
    { name: "admin: one user", run: () => tasks.history({ viewer: adminViewer, ownerId: pick(owners), limit }) },
    { name: "admin: one batch", run: () => tasks.history({ viewer: adminViewer, batchId: pick([...bigBatches, ...smallBatches]).id, limit }) },
    {
      name: "admin: one day",
      run: () => {
        const from = randomDay();
        return tasks.history({ viewer: adminViewer, createdFrom: from, createdTo: new Date(from.getTime() + days(1)), limit });
      },
    },
    { name: "live list: findByIds, 250 recent ids", run: () => tasks.findByIds(Array.from({ length: 250 }, () => pick(recentIds))) },
    { name: "live list: findByIds, 1,000 ids (a tick's most)", run: () => tasks.findByIds(Array.from({ length: 1_000 }, () => pick(anyIds))) },
    { name: "task by id: findVisible", run: () => { const row = pick(sample); return tasks.findVisible(row.id, { userId: row.owner, isAdmin: false }); } },
    {
      // The statement of main before the walk (issue 17), on the same data: every open task read and sorted by updated_at.
      name: "sweeper: findStale, the statement before the walk",
      run: () =>
        pool.query(
          `SELECT t.task_id, t.owner_id, t.status, t.queue_name, t.attempts, t.batch_id, t.api_key_id, t.webhook FROM tasks t
            WHERE t.completed_at IS NULL AND t.status IN ('PENDING', 'RUNNING') AND t.updated_at < $1
              AND NOT EXISTS (SELECT 1 FROM batches b WHERE b.id = t.batch_id AND b.status = 'validating')
            ORDER BY t.updated_at ASC LIMIT $2`,
          [new Date(Date.now() - 30_000), 500],
        ),
    },
    // A round's page of the walk over the open tasks, from a random point of it (the first page when "").
    { name: "sweeper: findStale (a page of the walk: 500 open tasks read)", run: (i: number) => tasks.findStale(new Date(Date.now() - 30_000), i % 10 === 0 ? "" : pick(openIds), 500) },
    { name: "sweeper: expireOverdue", run: () => tasks.expireOverdue(500), rollback: true },
    { name: "sweeper: batches.findValidatingBefore", run: () => batches.findValidatingBefore(new Date(Date.now() - 30_000), 500) },
    { name: "sweeper: batches.findOpen", run: () => batches.findOpen(500) },
    { name: "sweeper: batches.findUnsettled", run: () => batches.findUnsettled(500) },
    { name: "batches.counts (a 50,000-item batch: GET /v1/ai/batches/{id})", run: () => batches.counts(pick(bigBatches).id) },
    {
      // What GET /v1/ai/batches and /v1/batches answer: a page of batches, each with its counts.
      name: "batch list: a page of 20 with their counts (a batch owner)",
      run: async () => {
        const page = await batches.list({ userId: pick(bigBatches).owner, isAdmin: false }, { limit: 20 });
        return Promise.all(page.batches.map((batch) => batches.counts(batch.id)));
      },
    },
    ...(openBatch ? [{ name: "sweeper: batches.counts (the open batch, each round)", run: () => batches.counts(openBatch) } satisfies Case] : []),
    {
      // The statement of main before the watermark (issue 17), on the same data: every round read the last 24 hours.
      name: "sweeper: tasksMissingFinalDelivery (24 h), the statement before the watermark",
      run: () =>
        pool.query(
          `SELECT t.task_id FROM tasks t
            WHERE t.webhook IS NOT NULL AND t.completed_at >= $1 AND t.completed_at < $2
              AND t.status IN ('COMPLETED', 'FAILED', 'CANCELLED', 'EXPIRED')
              AND jsonb_exists(t.webhook -> 'events', lower(t.status::text))
              AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.task_id = t.task_id AND d.event_type NOT LIKE '%.progress')
            LIMIT $3`,
          [new Date(newestEnd.getTime() - days(1)), new Date(newestEnd.getTime() - 30_000), 500],
        ),
    },
    {
      // A round between passes: what ended since the last round (10 s) and the 5-minute overlap, before SWEEP_AFTER_MS.
      name: "sweeper: tasksMissingFinalDelivery, a round (5 min 10 s)",
      run: () => {
        const settled = newestEnd.getTime() - 30_000;
        return deliveries.tasksMissingFinalDelivery({ at: new Date(settled - 310_000), id: "" }, new Date(settled), 500);
      },
    },
    {
      // One page of the hourly full pass: 500 tasks read from a random point of the last 24 hours.
      name: "sweeper: tasksMissingFinalDelivery, a page of the full pass (500 read)",
      run: () => deliveries.tasksMissingFinalDelivery({ at: new Date(newestEnd.getTime() - rand() * days(1)), id: "" }, new Date(newestEnd.getTime() - 30_000), 500),
    },
    { name: "sweeper: batchesMissingFinalDelivery", run: () => deliveries.batchesMissingFinalDelivery(new Date(Date.now() - days(1)), 500) },
    { name: "sweeper: deliveries.findDue", run: () => deliveries.findDue(new Date(Date.now() - 30_000), 500) },
    { name: "sweeper: idempotency.deleteExpired", run: () => idempotency.deleteExpired(500), rollback: true },
    { name: "sweeper: eraseResponsesPastRetention (30 days, a backlog: 500 erased)", run: () => tasks.eraseResponsesPastRetention(30 * 86_400, 500), rollback: true },
    {
      // The shape of the retention delete (TASK_RETENTION_DAYS): the oldest 500 finished tasks past N days.
      name: "retention: delete 500 finished tasks past 30 days (shape)",
      rollback: true,
      run: () =>
        pool.query(
          `WITH doomed AS (
             DELETE FROM tasks WHERE task_id IN (
               SELECT task_id FROM tasks WHERE completed_at IS NOT NULL AND completed_at < now() - 30 * interval '1 day'
                ORDER BY completed_at LIMIT 500 FOR UPDATE SKIP LOCKED)
             RETURNING task_id)
           DELETE FROM webhook_deliveries WHERE task_id IN (SELECT task_id FROM doomed)`,
        ),
    },
    { name: "retention: nothing due (90 days, shape)", run: () => pool.query("SELECT task_id FROM tasks WHERE completed_at IS NOT NULL AND completed_at < now() - 90 * interval '1 day' ORDER BY completed_at LIMIT 500 FOR UPDATE SKIP LOCKED"), rollback: true },
    // TASK_RETENTION_DAYS's own statements (the sweeper's RetentionRepository), 30 days of a 60-day history: a backlog.
    { name: "retention: deleteTasks (30 days, 500)", run: () => retention.deleteTasks(30 * 86400, 500), rollback: true },
    { name: "retention: deleteTasks (nothing due: 90 days)", run: () => retention.deleteTasks(90 * 86400, 500), rollback: true },
    { name: "retention: deleteBatchTasks (30 days, 500)", run: () => retention.deleteBatchTasks(30 * 86400, 500), rollback: true },
    { name: "retention: deleteBatches (30 days)", run: () => retention.deleteBatches(30 * 86400, 500), rollback: true },
    { name: "admin queues: finishedSince (1 h)", run: () => stats.finishedSince(new Date(Date.now() - 3_600_000)) },
    { name: "users/me: usage (random user)", run: () => users.usage(pick(owners)) },
    { name: "users/me: usage (heaviest tenant)", run: () => users.usage(heavy) },
    { name: "metrics: openCountsByModelAndStatus (cached per scrape)", run: () => stats.openCountsByModelAndStatus() },
    // What the scrape counted before issue 17's change: every status, the whole table.
    { name: "metrics: the count of every status before (a full scan)", run: () => pool.query("SELECT model, status, count(*) FROM tasks GROUP BY model, status") },
  ].filter((c) => !ONLY || ONLY.test(c.name));
  };
  const cases = casesOf(db);

  const load = () => os.loadavg().map((l) => l.toFixed(2)).join(" ");
  const lines: string[] = [
    `# History at ${Number(size.rows).toLocaleString("en")} rows`,
    "",
    `tasks: ${size.heap} heap, ${size.indexes} indexes; ${keys} keys; ${RUNS} runs a case (budget ${CASE_BUDGET_MS / 1000} s), 1 connection; ${os.cpus().length} cores; load average at start ${load()}`,
    "",
    "| query | runs | p50 ms | p99 ms | max ms | load |",
    "| --- | ---: | ---: | ---: | ---: | --- |",
  ];
  const results: Result[] = [];
  for (const c of cases) {
    const around = c.rollback ? { before: () => pool.query("BEGIN"), after: () => pool.query("ROLLBACK") } : undefined;
    const result = await time(c.name, RUNS, c.run, around);
    results.push(result);
    const line = `| ${c.name} | ${result.runs} | ${result.p50.toFixed(2)} | ${result.p99.toFixed(2)} | ${result.max.toFixed(2)} | ${os.loadavg()[0]!.toFixed(2)} |`;
    lines.push(line);
    console.log(line);
  }

  // Plans: one more run of each, on a connection that logs the plan of every statement it runs (and of
  // statements nested in them) with ANALYZE and BUFFERS, back to this client as a NOTICE.
  if (process.env.HISTORY_PLANS !== "none") {
    // Set at connection start (superuser), so no statement of the case runs before them.
    const settings = "-c session_preload_libraries=auto_explain -c auto_explain.log_min_duration=0 -c auto_explain.log_analyze=on -c auto_explain.log_buffers=on -c auto_explain.log_nested_statements=on -c auto_explain.log_level=notice";
    const explainUrl = new URL(url);
    explainUrl.searchParams.set("options", settings);
    const explained = createDatabase({ databaseUrl: explainUrl.toString(), poolSize: 1 });
    const notices: string[] = [];
    const explainPool = poolOf(explained);
    explainPool.on("connect", (client) => client.on("notice", (notice) => notices.push(notice.message ?? "")));
    const plans: string[] = [];
    for (const c of casesOf(explained)) {
      notices.length = 0;
      if (c.rollback) await explainPool.query("BEGIN");
      await c.run(1);
      if (c.rollback) await explainPool.query("ROLLBACK");
      plans.push(`## ${c.name}\n${notices.filter((n) => n.includes("duration:") && !/(BEGIN|ROLLBACK)/.test(n)).join("\n")}\n`);
    }
    fs.writeFileSync(PLANS, plans.join("\n"));
    await explained.$disconnect();
  }

  if (process.env.HISTORY_HTTP !== "off") lines.push("", ...(await overHttp({ owners, sample, bigBatches, smallBatches, newest, statuses })));
  lines.push("", `load average at the end ${load()}`);
  fs.writeFileSync(OUT, lines.join("\n") + "\n");
  console.log(`report: ${OUT}; plans: ${PLANS}`);
  await db.$disconnect();
}

/** The lists over HTTP: a spawned API process (its own pool and Redis), keep-alive requests one at a time. */
async function overHttp(p: {
  owners: string[];
  sample: { id: string; owner: string; created: Date }[];
  bigBatches: { id: string; owner: string }[];
  smallBatches: { id: string; owner: string }[];
  newest: Date;
  statuses: TaskStatus[];
}): Promise<string[]> {
  const redis = await startPrivateRedis();
  const adminKey = "history-bench-admin-key-0123456789";
  const api = await spawnService(
    "apps/api/src/main.ts",
    {
      DATABASE_URL: url,
      REDIS_URL: redis.url,
      ADMIN_API_KEY: adminKey,
      AUTH_JWT_SECRET: "history-bench-jwt-secret-0123456789abcdef",
      PORT: "0",
      API_PROCESSES: "1",
      LOG_LEVEL: "info",
      LOG_FORMAT: "json",
      RATE_LIMIT_PER_MINUTE: "0",
    },
    /"msg":"api listening"/,
    { timeoutMs: 60_000 },
  );
  const base = /"url":"(http:\/\/[^"]+)"/.exec(api.output())![1]!;
  const userNumber = (id: string) => parseInt(id.slice(-12), 16);
  const get = async (path: string, key: string) => {
    const response = await fetch(base + path, { headers: { authorization: `Bearer ${key}` } });
    const body = await response.text();
    if (response.status !== 200) throw new Error(`GET ${path}: ${response.status} ${body.slice(0, 300)}`);
    return body;
  };
  const as = (owner: string) => history.keySecret(userNumber(owner));
  const lines = ["| over HTTP: GET /v1/ai/tasks ... | runs | p50 ms | p99 ms | max ms | load |", "| --- | ---: | ---: | ---: | ---: | --- |"];
  const owner = (i: number) => (i % 10 === 0 ? history.userId(1) : pick(p.owners));
  const day = () => new Date(p.newest.getTime() - Math.floor(rand() * 59) * 86_400_000 - 86_400_000);
  const cases: [string, (i: number) => Promise<unknown>][] = [
    ["a tenant's first page", (i) => get("/v1/ai/tasks", as(owner(i)))],
    [
      "a tenant's deep page (cursor)",
      () => {
        const row = pick(p.sample);
        return get(`/v1/ai/tasks?cursor=${encodeCursor({ createdAt: row.created, id: row.id })}`, as(row.owner));
      },
    ],
    ...p.statuses.map((status): [string, (i: number) => Promise<unknown>] => [`a tenant, status=${status}`, (i) => get(`/v1/ai/tasks?status=${status}`, as(owner(i)))]),
    ...history.models.map((model): [string, (i: number) => Promise<unknown>] => [`a tenant, model=${model}`, (i) => get(`/v1/ai/tasks?model=${model}`, as(owner(i)))]),
    [
      "a tenant, batch_id",
      (i) => {
        const batch = i % 2 === 0 ? pick(p.bigBatches) : pick(p.smallBatches);
        return get(`/v1/ai/tasks?batch_id=${batch.id}`, as(batch.owner));
      },
    ],
    [
      "a tenant, one day",
      (i) => {
        const from = day();
        return get(`/v1/ai/tasks?created_from=${from.toISOString()}&created_to=${new Date(from.getTime() + 86_400_000).toISOString()}`, as(owner(i)));
      },
    ],
    ["a tenant, limit=200", (i) => get("/v1/ai/tasks?limit=200", as(owner(i)))],
    ["admin: all tenants", () => get("/v1/ai/tasks", adminKey)],
    [
      "admin: deep page (cursor)",
      () => {
        const row = pick(p.sample);
        return get(`/v1/ai/tasks?cursor=${encodeCursor({ createdAt: row.created, id: row.id })}`, adminKey);
      },
    ],
    ...p.statuses.map((status): [string, (i: number) => Promise<unknown>] => [`admin: status=${status}`, () => get(`/v1/ai/tasks?status=${status}`, adminKey)]),
    ...history.models.map((model): [string, (i: number) => Promise<unknown>] => [`admin: model=${model}`, () => get(`/v1/ai/tasks?model=${model}`, adminKey)]),
    ["admin: user_id", () => get(`/v1/ai/tasks?user_id=${pick(p.owners)}`, adminKey)],
    ["admin: batch_id", () => get(`/v1/ai/tasks?batch_id=${pick([...p.bigBatches, ...p.smallBatches]).id}`, adminKey)],
    [
      "admin: one day",
      () => {
        const from = day();
        return get(`/v1/ai/tasks?created_from=${from.toISOString()}&created_to=${new Date(from.getTime() + 86_400_000).toISOString()}`, adminKey);
      },
    ],
    ["users/me (usage), a tenant", (i) => get("/v1/users/me", as(owner(i)))],
    ["GET /v1/ai/batches (a batch owner: 20 with their counts)", () => get("/v1/ai/batches", as(pick(p.bigBatches).owner))],
    ["GET /v1/ai/batches/{id} (50,000 items)", () => { const batch = pick(p.bigBatches); return get(`/v1/ai/batches/${batch.id}`, as(batch.owner)); }],
    ["GET /v1/ai/batches (admin: 20 with their counts)", () => get("/v1/ai/batches", adminKey)],
  ];
  try {
    for (const [name, run] of cases) {
      if (ONLY && !ONLY.test(`http ${name}`)) continue;
      const result = await time(name, RUNS, run);
      const line = `| ${name} | ${result.runs} | ${result.p50.toFixed(2)} | ${result.p99.toFixed(2)} | ${result.max.toFixed(2)} | ${os.loadavg()[0]!.toFixed(2)} |`;
      lines.push(line);
      console.log(line);
    }
  } finally {
    await api.stop();
    await redis.destroy();
  }
  return lines;
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
