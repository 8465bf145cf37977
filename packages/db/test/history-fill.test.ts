import { Client } from "pg";
import { type TaskStatus } from "@llmq/core";
import { batchBlockOf, createTestDatabase, fillHistory, history, historyKeyHash, openTasksOf } from "@llmq/testkit";
import { type Database, TaskRepository, batchTaskId, createDatabase } from "../src";

/**
 * The history generator of scripts/fill-history.sh (docs/performance.md, "History at 10 million rows"),
 * on a small fill: what it writes is what the app would have written, so the measurements made with it
 * at 10 M rows are of realistic rows and plans.
 */

const ROWS = 20_000;
const KEYS = 1_000;
let drop: () => Promise<void>;
let client: Client;
let db: Database;
let indexesBefore: string[];

const indexesOf = async () =>
  (await client.query<{ name: string }>("SELECT indexname AS name FROM pg_indexes WHERE tablename IN ('tasks', 'webhook_deliveries') ORDER BY 1")).rows.map((row) => row.name);

beforeAll(async () => {
  const database = await createTestDatabase();
  drop = database.drop;
  client = new Client({ connectionString: database.url });
  await client.connect();
  indexesBefore = await indexesOf();
  await fillHistory(client, { rows: ROWS, keys: KEYS, chunk: 7_000 });
  db = createDatabase({ databaseUrl: database.url, poolSize: 2 });
}, 120_000);

afterAll(async () => {
  await db?.$disconnect();
  await client?.end();
  await drop?.();
});

const one = async <T>(sql: string, params: unknown[] = []): Promise<T> => (await client.query(sql, params)).rows[0] as T;

describe("fillHistory", () => {
  it("writes the rows asked for, over every key, and rebuilds every index it dropped", async () => {
    expect(await one("SELECT count(*)::int AS tasks, count(DISTINCT owner_id)::int AS owners, count(DISTINCT task_id)::int AS ids FROM tasks")).toEqual({
      tasks: ROWS,
      owners: KEYS,
      ids: ROWS,
    });
    expect(await one("SELECT count(*)::int AS users FROM users WHERE email LIKE 'tenant%'")).toEqual({ users: KEYS });
    expect(await indexesOf()).toEqual(indexesBefore);
    // Every index valid (a failed rebuild leaves an invalid one behind).
    expect(await one("SELECT count(*)::int AS invalid FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid WHERE t.relname = 'tasks' AND NOT i.indisvalid")).toEqual({ invalid: 0 });
  });

  it("keeps the foreign keys and the table's CHECK true, though it did not check them row by row", async () => {
    expect(
      await one(`SELECT (SELECT count(*)::int FROM tasks t WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = t.owner_id)) AS orphan_owners,
                        (SELECT count(*)::int FROM tasks t WHERE t.batch_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM batches b WHERE b.id = t.batch_id)) AS orphan_items,
                        (SELECT count(*)::int FROM tasks t WHERE t.api_key_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM api_keys k WHERE k.id = t.api_key_id)) AS orphan_keys,
                        (SELECT count(*)::int FROM tasks WHERE (status IN ('PENDING', 'RUNNING')) <> (completed_at IS NULL)) AS open_mismatch,
                        (SELECT count(*)::int FROM tasks WHERE final_status IS DISTINCT FROM (CASE WHEN completed_at IS NULL THEN NULL ELSE status END)) AS final_mismatch`),
    ).toEqual({ orphan_owners: 0, orphan_items: 0, orphan_keys: 0, open_mismatch: 0, final_mismatch: 0 });
    // Validating the constraints again reads every row: it fails on any that breaks them.
    const { rows } = await client.query<{ name: string; table: string }>(
      "SELECT conname AS name, conrelid::regclass::text AS table FROM pg_constraint WHERE contype IN ('f', 'c') AND conrelid = 'tasks'::regclass",
    );
    for (const constraint of rows) {
      await client.query(`ALTER TABLE "${constraint.table}" DROP CONSTRAINT "${constraint.name}", ADD CONSTRAINT "${constraint.name}" ${(await one<{ def: string }>("SELECT pg_get_constraintdef(oid) AS def FROM pg_constraint WHERE conname = $1", [constraint.name])).def}`);
    }
  });

  it("spreads statuses, models, endpoints, owners and batches as documented", async () => {
    const statuses = Object.fromEntries((await client.query<{ status: TaskStatus; n: number }>("SELECT status, count(*)::int AS n FROM tasks GROUP BY 1")).rows.map((r) => [r.status, r.n]));
    const open = openTasksOf(ROWS);
    expect(statuses.PENDING! + statuses.RUNNING!).toBe(open);
    expect(statuses.RUNNING).toBe(open / 5);
    expect(statuses.COMPLETED! / ROWS).toBeCloseTo(0.94, 1);
    expect(statuses.FAILED! + statuses.CANCELLED! + statuses.EXPIRED!).toBeGreaterThan(0.05 * ROWS);
    // The open ones are the newest.
    expect(await one("SELECT bool_and(t.created_at > f.newest_final) AS newest FROM tasks t, (SELECT max(created_at) AS newest_final FROM tasks WHERE completed_at IS NOT NULL) f WHERE t.completed_at IS NULL")).toEqual({ newest: true });

    const models = Object.fromEntries((await client.query<{ model: string; n: number }>("SELECT model, count(*)::int AS n FROM tasks GROUP BY 1")).rows.map((r) => [r.model, r.n / ROWS]));
    expect(Object.keys(models).sort()).toEqual([...history.models].sort());
    expect(models["llama-3.1-8b-instruct"]).toBeCloseTo(0.45, 1);
    expect(models["deepseek-r1"]).toBeCloseTo(0.01, 2);
    expect(models["legacy-model"]).toBeCloseTo(0.001, 3);
    expect((await client.query("SELECT DISTINCT endpoint FROM tasks ORDER BY 1")).rows.map((r) => r.endpoint)).toEqual(["chat.completion", "response", "task", "text_completion"]);

    // Skewed owners: user 1 the heaviest, user KEYS among the lightest, none without tasks.
    const heaviest = await one<{ owner: string }>("SELECT owner_id AS owner FROM tasks GROUP BY 1 ORDER BY count(*) DESC LIMIT 1");
    expect(heaviest.owner).toBe(history.userId(1));

    // A fifth are batch items, numbered 0.. within their batch, with the ids the app derives.
    const batches = await one<{ items: number; mismatched: number; bad_index: number }>(
      `SELECT (SELECT count(*)::int FROM tasks WHERE batch_id IS NOT NULL) AS items,
              (SELECT count(*)::int FROM batches b WHERE b.total_count <> (SELECT count(*) FROM tasks t WHERE t.batch_id = b.id)) AS mismatched,
              (SELECT count(*)::int FROM (SELECT batch_id, max(batch_index) AS top, count(*) AS n FROM tasks WHERE batch_id IS NOT NULL GROUP BY 1) x WHERE top <> n - 1) AS bad_index`,
    );
    expect(batches).toEqual({ items: ROWS / 5, mismatched: 0, bad_index: 0 });
    expect(await one("SELECT count(DISTINCT total_count)::int AS sizes FROM batches")).toEqual({ sizes: 2 });
    // Ended batches keep their counts as the app keeps them; the running one has none yet.
    expect(
      await one(`SELECT count(*) FILTER (WHERE status = 'in_progress' AND final_counts IS NULL)::int AS open,
                        count(*) FILTER (WHERE status = 'completed' AND (final_counts ->> 'COMPLETED')::int + coalesce((final_counts ->> 'FAILED')::int, 0)
                                         + coalesce((final_counts ->> 'CANCELLED')::int, 0) + coalesce((final_counts ->> 'EXPIRED')::int, 0) = total_count)::int AS ended,
                        count(*)::int AS batches FROM batches`),
    ).toEqual({
      open: (await one<{ n: number }>("SELECT count(*)::int AS n FROM batches WHERE status = 'in_progress'")).n,
      ended: (await one<{ n: number }>("SELECT count(*)::int AS n FROM batches WHERE status <> 'in_progress'")).n,
      batches: expect.any(Number),
    });
    expect(await one("SELECT max(total_count)::int AS largest FROM batches")).toEqual({ largest: batchBlockOf(ROWS) / 5 });
    const item = await one<{ id: string; batch: string; index: number }>("SELECT task_id AS id, batch_id AS batch, batch_index AS index FROM tasks WHERE batch_id IS NOT NULL ORDER BY created_at LIMIT 1 OFFSET 17");
    expect(item.id).toBe(batchTaskId(item.batch, item.index));
  });

  it("writes rows of realistic size, keys the app can authenticate, and the final webhook deliveries", async () => {
    const sizes = await one<{ messages: number; response: number; row: number }>(
      "SELECT avg(length(messages::text))::int AS messages, avg(length(response)) FILTER (WHERE status = 'COMPLETED')::int AS response, avg(pg_column_size(t.*))::int AS row FROM tasks t",
    );
    expect(sizes.messages).toBeGreaterThan(200);
    expect(sizes.response).toBeGreaterThan(200);
    expect(sizes.row).toBeGreaterThan(800);
    expect(await one("SELECT key_hash FROM api_keys WHERE user_id = $1", [history.userId(7)])).toEqual({ key_hash: historyKeyHash(7) });
    const deliveries = await one<{ missing: number; deliveries: number }>(
      `SELECT (SELECT count(*)::int FROM tasks t WHERE t.webhook IS NOT NULL AND t.status IN ('COMPLETED', 'FAILED')
                 AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.task_id = t.task_id)) AS missing,
              (SELECT count(*)::int FROM webhook_deliveries) AS deliveries`,
    );
    expect(deliveries.missing).toBe(0);
    expect(deliveries.deliveries).toBeGreaterThan(ROWS / 40);
  });

  it("refuses a database that already holds tasks", async () => {
    await expect(fillHistory(client, { rows: 10 })).rejects.toThrow(/already holds users or tasks/);
  });

  it("gives history pages the app can read", async () => {
    const tasks = new TaskRepository(db);
    const page = await tasks.history({ viewer: { userId: history.userId(1), isAdmin: false }, limit: 50 });
    expect(page.tasks).toHaveLength(50);
    expect(page.nextCursor).not.toBeNull();
  });
});

/**
 * The history's statement after the keyset and open-status rewrites (TaskRepository.history) against the
 * statement before them, on the same filled table: every page of every filter equal, page by page, to
 * the old statement's — with rows sharing a created_at (a batch's items inserted by one statement), where
 * the cursor's tie-break on task_id decides.
 */
describe("history pages on the generated history", () => {
  type Filters = { ownerId?: string; status?: TaskStatus; model?: string; batchId?: string; createdFrom?: Date; createdTo?: Date };

  /** The statement as it was: the keyset as one OR, no open-status or final_status predicate. */
  async function oldPage(filters: Filters, cursor: { createdAt: Date; id: string } | undefined, limit: number): Promise<string[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    const add = (sql: string, value: unknown) => {
      params.push(value);
      where.push(sql.replace("?", `$${params.length}`));
    };
    if (filters.ownerId) add("owner_id = ?::uuid", filters.ownerId);
    if (filters.status) add(`status = ?::"TaskStatus"`, filters.status);
    if (filters.model) add("model = ?", filters.model);
    if (filters.batchId) add("batch_id = ?", filters.batchId);
    if (filters.createdFrom) add("created_at >= ?", filters.createdFrom);
    if (filters.createdTo) add("created_at < ?", filters.createdTo);
    if (cursor) {
      params.push(cursor.createdAt, cursor.id);
      where.push(`(created_at < $${params.length - 1} OR (created_at = $${params.length - 1} AND task_id < $${params.length}))`);
    }
    params.push(limit + 1);
    const { rows } = await client.query<{ id: string }>(
      `SELECT task_id AS id FROM tasks ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY created_at DESC, task_id DESC LIMIT $${params.length}`,
      params,
    );
    return rows.map((row) => row.id);
  }

  /** Walks every page of `filters` with both statements; returns how many rows and pages it compared. */
  async function walk(filters: Filters, limit: number): Promise<{ rows: number; pages: number }> {
    const tasks = new TaskRepository(db);
    const admin = { userId: "00000000-0000-4000-8000-000000000001", isAdmin: true };
    let cursor: { createdAt: Date; id: string } | undefined;
    let rows = 0;
    let pages = 0;
    for (;;) {
      const page = await tasks.history({ viewer: admin, ...filters, cursor, limit });
      const before = await oldPage(filters, cursor, limit);
      expect(page.tasks.map((task) => task.id)).toEqual(before.slice(0, limit));
      expect(page.nextCursor !== null).toBe(before.length > limit);
      rows += page.tasks.length;
      pages += 1;
      if (!page.nextCursor) return { rows, pages };
      const last = page.tasks[page.tasks.length - 1]!;
      cursor = { createdAt: last.createdAt, id: last.id };
    }
  }

  beforeAll(async () => {
    // 300 more of user 3's tasks sharing one created_at, as one INSERT of a batch's items writes them.
    await client.query(
      `INSERT INTO tasks (task_id, owner_id, model, endpoint, queue_name, messages, configs, status, completed_at, created_at, updated_at, batch_id, batch_index)
       SELECT md5('tied ' || n), $1::uuid, 'gemma-7b', 'task', 'llm_gemma_7b_queue', '[]', '{}', 'COMPLETED', now() - interval '3 days', now() - interval '3 days 1 hour',
              now() - interval '3 days', $2, 100000 + n
         FROM generate_series(1, 300) n`,
      [history.userId(3), history.batchId(10)],
    );
    await client.query("ANALYZE tasks");
  });

  it.each<[string, Filters, number]>([
    ["the admin's whole history", {}, 200],
    ["a user's history", { ownerId: history.userId(3) }, 7],
    ["the heaviest user's", { ownerId: history.userId(1) }, 50],
    ["a status", { status: "FAILED" }, 50],
    // A user's final statuses come from tasks_owner_final_status_idx (final_status): the same pages.
    ["a user's failures", { ownerId: history.userId(3), status: "FAILED" }, 2],
    ["a user's expired tasks", { ownerId: history.userId(1), status: "EXPIRED" }, 3],
    ["a user's cancelled tasks", { ownerId: history.userId(2), status: "CANCELLED" }, 3],
    ["a user's completed tasks (300 share one created_at)", { ownerId: history.userId(3), status: "COMPLETED" }, 40],
    ["an open status", { status: "PENDING" }, 9],
    ["the other open status, of one user", { ownerId: history.userId(1), status: "RUNNING" }, 3],
    ["a rare model", { model: "legacy-model" }, 4],
    ["a user's model", { ownerId: history.userId(3), model: "gemma-7b" }, 11],
    ["a batch (300 of its rows share one created_at)", { batchId: history.batchId(10) }, 13],
    ["a week", { createdFrom: new Date(Date.now() - 14 * 86_400_000), createdTo: new Date(Date.now() - 7 * 86_400_000) }, 50],
  ])("%s: every page as before", async (_label, filters, limit) => {
    const { rows } = await walk(filters, limit);
    expect(rows).toBe((await oldPage(filters, undefined, 1_000_000)).length);
    expect(rows).toBeGreaterThan(0);
  });
});
