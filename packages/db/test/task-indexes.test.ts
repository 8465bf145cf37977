import { Client } from "pg";
import { createTestDatabase } from "@llmq/testkit";
import { BatchRepository, type Database, RetentionRepository, TaskRepository, TaskStatsRepository, UserRepository, WebhookDeliveryRepository, createDatabase, decodeCursor } from "../src";
import { poolOf } from "../src/client";
import { fillRealisticTasks, realistic } from "./realistic-tasks";

/**
 * Every query the code runs on `tasks`, against a month of realistic traffic (200,000 rows): which index
 * each one uses, that none scans the whole table (but the heaviest user's usage), and that every index of
 * the table serves at least one of them — an index nothing needs only slows every insert and update.
 * Plans come from auto_explain (nested statements included, so the foreign keys' cascades count too).
 * The table this checks is in prisma/README.md ("Indexes of tasks").
 */

let url: string;
let drop: () => Promise<void>;
let db: Database;
let admin: Client;
const notices: string[] = [];

beforeAll(async () => {
  const database = await createTestDatabase();
  url = database.url;
  drop = database.drop;
  const name = new URL(url).pathname.slice(1);
  admin = new Client({ connectionString: url });
  await admin.connect();
  await fillRealisticTasks(admin);
  // Every later connection to this database logs each statement's plan back to its client as a NOTICE.
  for (const setting of [
    "session_preload_libraries = 'auto_explain'",
    "auto_explain.log_min_duration = 0",
    "auto_explain.log_level = 'notice'",
    "auto_explain.log_format = 'json'",
    "auto_explain.log_nested_statements = on",
  ]) {
    await admin.query(`ALTER DATABASE "${name}" SET ${setting}`);
  }
  db = createDatabase({ databaseUrl: url, poolSize: 2 });
  poolOf(db).on("connect", (client) => client.on("notice", (notice) => notices.push(notice.message ?? "")));
}, 180_000);

afterAll(async () => {
  await db?.$disconnect();
  await admin?.end();
  await drop?.();
});

interface PlanNode {
  "Node Type": string;
  "Relation Name"?: string;
  "Index Name"?: string;
  Plans?: PlanNode[];
}

/** What `run` scanned `tasks` with: index names, or "Seq Scan". */
async function scansOf(indexes: Set<string>, run: () => Promise<unknown>): Promise<Set<string>> {
  notices.length = 0;
  await run();
  const scans = new Set<string>();
  const visit = (node: PlanNode) => {
    if (node["Node Type"] === "Seq Scan" && node["Relation Name"] === "tasks") scans.add("Seq Scan");
    if (node["Index Name"] && indexes.has(node["Index Name"])) scans.add(node["Index Name"]);
    for (const child of node.Plans ?? []) visit(child);
  };
  for (const notice of notices) {
    const start = notice.indexOf("{");
    if (start < 0) continue;
    const plan = JSON.parse(notice.slice(start)) as { Plan: PlanNode };
    visit(plan.Plan);
  }
  return scans;
}

it("every query on tasks uses an index, and every index of tasks serves a query", async () => {
  const indexes = new Set((await admin.query<{ indexname: string }>("SELECT indexname FROM pg_indexes WHERE tablename = 'tasks'")).rows.map((row) => row.indexname));
  const tasks = new TaskRepository(db);
  const batches = new BatchRepository(db);
  const users = new UserRepository(db);
  const stats = new TaskStatsRepository(db);
  const deliveries = new WebhookDeliveryRepository(db);
  const retention = new RetentionRepository(db);

  const heavy = { userId: realistic.userId(1), isAdmin: false };
  const medium = { userId: realistic.userId(20), isAdmin: false };
  const light = { userId: realistic.userId(40), isAdmin: false };
  const adminViewer = { userId: realistic.userId(2), isAdmin: true };
  const running = realistic.batchId(realistic.batches);
  const finished = realistic.batchId(3);
  const old = realistic.taskId(10_001);
  const firstPage = await tasks.history({ viewer: heavy, limit: 50 });
  const cursor = firstPage.nextCursor!;
  const decoded = decodeCursor(cursor)!;
  const pendingTask = (await admin.query<{ id: string }>("SELECT task_id AS id FROM tasks WHERE status = 'PENDING' AND batch_id IS NULL ORDER BY created_at LIMIT 4")).rows.map(
    (row) => row.id,
  );
  const hour = new Date(Date.now() - 3600_000);
  const progress = { response: "token token", percent: 20, completionTokens: 2, firstTokenAt: new Date(), choices: [] };

  // Query -> the indexes it should use on realistic data ("Seq Scan" only where a full pass is the point;
  // "a|b": either is a good plan, the planner's estimates decide).
  const expected: [string, () => Promise<unknown>, string[]][] = [
    ["findById", () => tasks.findById(old), ["tasks_pkey"]],
    ["findVisible (owner)", () => tasks.findVisible(old, heavy), ["tasks_pkey"]],
    ["findByIds", () => tasks.findByIds([old, pendingTask[0]!]), ["tasks_pkey"]],
    ["history (owner)", () => tasks.history({ viewer: medium, limit: 50 }), ["tasks_owner_history_idx"]],
    // A user with a sixth of all tasks: newest first over every task finds 50 of theirs sooner.
    ["history (heaviest owner)", () => tasks.history({ viewer: heavy, limit: 50 }), ["tasks_history_idx|tasks_owner_history_idx"]],
    ["history (owner, next page)", () => tasks.history({ viewer: heavy, limit: 50, cursor: decoded }), ["tasks_owner_history_idx"]],
    ["history (owner with few tasks)", () => tasks.history({ viewer: light, limit: 50 }), ["tasks_owner_history_idx"]],
    // A final status of few rows: the user's tasks of that status in order, not a walk of their history
    // that reads each row to check its status (final_status, written when the task ends).
    ["history (owner, status FAILED)", () => tasks.history({ viewer: heavy, status: "FAILED", limit: 50 }), ["tasks_owner_final_status_idx"]],
    ["history (owner, status EXPIRED)", () => tasks.history({ viewer: medium, status: "EXPIRED", limit: 50 }), ["tasks_owner_final_status_idx"]],
    // An open status reads the open tasks, not the user's whole history (a user with none read all of it).
    ["history (owner, status RUNNING)", () => tasks.history({ viewer: light, status: "RUNNING", limit: 50 }), ["tasks_open_idx"]],
    ["history (admin)", () => tasks.history({ viewer: adminViewer, limit: 50 }), ["tasks_history_idx"]],
    ["history (admin, a deep page)", () => tasks.history({ viewer: adminViewer, cursor: { createdAt: new Date(Date.now() - 20 * 86400_000), id: "f".repeat(32) }, limit: 50 }), ["tasks_history_idx"]],
    // Every open task, from either open-task index (same predicate, same entries; the planner picks by size).
    ["history (admin, status RUNNING)", () => tasks.history({ viewer: adminViewer, status: "RUNNING", limit: 50 }), ["tasks_history_idx|tasks_open_idx|tasks_open_id_idx"]],
    // Across all users the newest rows hold 50 of any status: never the final-status index read whole and sorted.
    ["history (admin, status EXPIRED)", () => tasks.history({ viewer: adminViewer, status: "EXPIRED", limit: 50 }), ["tasks_history_idx"]],
    ["history (admin, one user's failures)", () => tasks.history({ viewer: adminViewer, ownerId: realistic.userId(20), status: "FAILED", limit: 50 }), ["tasks_owner_final_status_idx"]],
    ["history (admin, rare model)", () => tasks.history({ viewer: adminViewer, model: "rare-model", limit: 50 }), ["tasks_history_idx|tasks_model_history_idx"]],
    ["history (owner, rare model)", () => tasks.history({ viewer: medium, model: "rare-model", limit: 50 }), ["tasks_model_history_idx"]],
    ["history (heaviest owner, a model)", () => tasks.history({ viewer: heavy, model: "model-2", limit: 50 }), ["tasks_model_history_idx|tasks_owner_history_idx"]],
    [
      "history (admin, a day a week ago)",
      () => tasks.history({ viewer: adminViewer, createdFrom: new Date(Date.now() - 8 * 86400_000), createdTo: new Date(Date.now() - 7 * 86400_000), limit: 50 }),
      ["tasks_history_idx"],
    ],
    ["history (admin, one user)", () => tasks.history({ viewer: adminViewer, ownerId: realistic.userId(7), limit: 50 }), ["tasks_owner_history_idx"]],
    // A batch's items newest first, in index order: no sort of every item.
    ["history (owner, one batch)", () => tasks.history({ viewer: { userId: realistic.userId(4), isAdmin: false }, batchId: finished, limit: 50 }), ["tasks_batch_history_idx"]],
    ["history (admin, one batch)", () => tasks.history({ viewer: adminViewer, batchId: finished, limit: 50 }), ["tasks_batch_history_idx"]],
    ["users.usage", () => users.usage(realistic.userId(20)), ["tasks_owner_history_idx"]],
    // A sixth of the table: reading it whole is cheaper.
    ["users.usage (heaviest owner)", () => users.usage(realistic.userId(1)), ["Seq Scan"]],
    ["openTaskCounts (key)", () => tasks.openTaskCounts(realistic.userId(1), realistic.keyId(1)), ["tasks_open_idx"]],
    ["openTaskCounts (session)", () => tasks.openTaskCounts(realistic.userId(3), null), ["tasks_open_idx"]],
    ["batchHasOpenTasks (running batch)", () => tasks.batchHasOpenTasks(running), ["tasks_open_idx"]],
    ["batchHasOpenTasks (finished batch)", () => tasks.batchHasOpenTasks(finished), ["tasks_open_idx"]],
    ["runningIdsOfBatch", () => tasks.runningIdsOfBatch(running), ["tasks_open_idx"]],
    ["batchPage", () => tasks.batchPage(finished, 50_000, 100), ["tasks_batch_idx"]],
    ["batches.counts", () => batches.counts(finished), ["tasks_batch_idx"]],
    ["batches.settlementOf", () => batches.settlementOf(finished), ["tasks_batch_idx"]],
    ["findStale", () => tasks.findStale(new Date(Date.now() - 30_000), "", 100), ["tasks_open_id_idx"]],
    ["expireOverdue", () => tasks.expireOverdue(100), ["tasks_pkey", "tasks_queue_deadline_idx"]],
    ["finishedSince (queue stats)", () => stats.finishedSince(hour), ["tasks_completed_idx"]],
    ["tasksMissingFinalDelivery", () => deliveries.tasksMissingFinalDelivery({ at: new Date(Date.now() - 86400_000), id: "" }, new Date(Date.now() - 30_000), 100), ["tasks_webhook_due_idx"]],
    // The retention sweep: none past 30 days (the steady state), then a day's retention with a month behind it.
    ["eraseResponsesPastRetention (nothing due)", () => tasks.eraseResponsesPastRetention(31 * 86400, 500), ["tasks_pkey", "tasks_response_retention_idx"]],
    ["eraseResponsesPastRetention (a month due)", () => tasks.eraseResponsesPastRetention(86400, 500), ["tasks_pkey", "tasks_response_retention_idx"]],
    // The metrics' count: the open tasks only, never the history.
    ["openCountsByModelAndStatus (metrics)", () => stats.openCountsByModelAndStatus(), ["tasks_open_idx|tasks_open_id_idx"]],
    // The hot path, by primary key.
    ["startAttempt", () => tasks.startAttempt(pendingTask[0]!), ["tasks_pkey"]],
    ["checkpoint", () => tasks.checkpoint(pendingTask[0]!, 1, progress), ["tasks_pkey"]],
    ["complete", () => tasks.complete(pendingTask[0]!, 1, { ...progress, finishReason: "stop", promptTokens: 3 }), ["tasks_pkey"]],
    ["cancel", () => tasks.cancel(pendingTask[1]!), ["tasks_pkey"]],
    ["expireIfUnstarted", () => tasks.expireIfUnstarted(pendingTask[2]!), ["tasks_pkey"]],
    ["withdraw", () => tasks.withdraw(pendingTask[3]!), ["tasks_pkey"]],
    // State changes of a batch's items, and the cascades of deleting a batch or a user.
    ["closePendingOfBatch", () => tasks.closePendingOfBatch(running, "CANCELLED"), ["tasks_batch_idx"]],
    ["batches.delete (cascade)", () => batches.delete(realistic.batchId(1)), ["tasks_batch_idx"]],
    ["users.delete (cascade)", () => users.delete(realistic.userId(40)), ["tasks_owner_history_idx"]],
    // TASK_RETENTION_DAYS (last: they delete): nothing due (the steady state), then a week of tasks due;
    // the items of the batches that ended 20 days ago and more, and those batches once empty.
    ["retention.deleteTasks (nothing due)", () => retention.deleteTasks(40 * 86400, 500), ["tasks_pkey", "tasks_retention_idx"]],
    ["retention.deleteTasks (a week due)", () => retention.deleteTasks(23 * 86400, 500), ["tasks_pkey", "tasks_retention_idx"]],
    ["retention.deleteBatchTasks", () => retention.deleteBatchTasks(20 * 86400, 500), ["tasks_batch_idx", "tasks_pkey"]],
    ["retention.deleteBatches", () => retention.deleteBatches(20 * 86400, 500), ["tasks_batch_idx"]],
  ];

  const seen: Record<string, string[]> = {};
  const wanted: Record<string, string[]> = {};
  for (const [label, run, indexNames] of expected) {
    const scans = await scansOf(indexes, run);
    seen[label] = [...scans].sort();
    wanted[label] = indexNames.map((choice) => choice.split("|").find((name) => scans.has(name)) ?? choice).sort();
  }
  const used = new Set(Object.values(seen).flat());
  const unused = [...indexes].filter((index) => !used.has(index)).sort();
  expect({ seen, unused }).toEqual({ seen: wanted, unused: [] });
}, 120_000);

it("a history page after a cursor starts the index scan at the cursor, however deep", async () => {
  const tasks = new TaskRepository(db);
  const cursor = { createdAt: new Date(Date.now() - 20 * 86400_000), id: "f".repeat(32) };
  const conditions = async (run: () => Promise<unknown>) => {
    notices.length = 0;
    await run();
    return notices.join("\n").match(/"Index Cond": "[^"]*"/g) ?? [];
  };
  // The bound on created_at is an index condition, not a filter over every newer entry.
  expect(await conditions(() => tasks.history({ viewer: { userId: realistic.userId(2), isAdmin: true }, cursor, limit: 50 }))).toEqual([
    expect.stringMatching(/created_at <= /),
  ]);
  expect(await conditions(() => tasks.history({ viewer: { userId: realistic.userId(20), isAdmin: false }, cursor, limit: 50 }))).toEqual([
    expect.stringMatching(/owner_id = .*created_at <= /),
  ]);
});
