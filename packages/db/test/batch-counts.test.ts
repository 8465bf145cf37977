import { newBatchId } from "@llmq/core";
import { createTestDatabase } from "@llmq/testkit";
import { Client } from "pg";
import { ADMIN_USER_ID, BatchRepository, type Database, TaskRepository, batchTaskOf, createDatabase } from "../src";

/**
 * A batch's counts per status: live while it runs; once it ended they cannot change (every item is final),
 * so the row keeps them and `GET /v1/ai/batches`, `/v1/batches` and their one-batch routes read one row
 * instead of every item (a page of 20 batches of 50,000 items: 565 ms at p99 on 10 M rows,
 * docs/performance.md "History at 10 million rows").
 */

let drop: () => Promise<void>;
let db: Database;
let client: Client;

beforeAll(async () => {
  const database = await createTestDatabase();
  drop = database.drop;
  db = createDatabase({ databaseUrl: database.url, poolSize: 2 });
  client = new Client({ connectionString: database.url });
  await client.connect();
  await client.query("INSERT INTO users (id, name, is_admin) VALUES ($1, 'admin', true) ON CONFLICT DO NOTHING", [ADMIN_USER_ID]);
});

afterAll(async () => {
  await client?.end();
  await db?.$disconnect();
  await drop?.();
});

async function batchOf(items: number) {
  const batches = new BatchRepository(db);
  const tasks = new TaskRepository(db);
  const batch = await batches.create({
    id: newBatchId(),
    ownerId: ADMIN_USER_ID,
    kind: "native",
    endpoint: "/v1/ai/text_completion",
    inputFileId: null,
    completionWindow: "24h",
    metadata: null,
    expiresAt: new Date(Date.now() + 3_600_000),
    status: "in_progress",
    totalCount: items,
  });
  const prepared = { endpoint: "task" as const, model: { id: "m", queueName: "llm_m_queue" } as never, messages: [{ role: "user" as const, content: "x" }], configs: { model: "m", max_tokens: 4, n: 1 } };
  const rows = Array.from({ length: items }, (_, i) => batchTaskOf(batch, { task: prepared, customId: `r${i}` }, i));
  await tasks.createBatchTasks(batch.id, rows);
  return { batch, ids: rows.map((row) => row.id), batches, tasks };
}

const none = { PENDING: 0, RUNNING: 0, COMPLETED: 0, FAILED: 0, CANCELLED: 0, EXPIRED: 0 };

it("counts a running batch's items live, and keeps an ended batch's counts as it ended", async () => {
  const { batch, ids, batches, tasks } = await batchOf(5);
  expect(await batches.counts(batch.id)).toEqual({ ...none, PENDING: 5 });
  const started = await tasks.startAttempt(ids[0]!);
  expect(await tasks.complete(ids[0]!, started!.attempt, { response: "ok", percent: 100, completionTokens: 1, firstTokenAt: new Date(), choices: [], finishReason: "stop", promptTokens: 1 })).toBe(true);
  expect(await batches.counts(batch.id)).toEqual({ ...none, PENDING: 4, COMPLETED: 1 });

  // Cancelled: the queued items close, the batch ends.
  expect(await batches.transition(batch.id, ["in_progress"], "cancelling")).toBe(true);
  await tasks.closePendingOfBatch(batch.id, "CANCELLED");
  expect(await batches.transition(batch.id, ["cancelling"], "cancelled")).toBe(true);
  const ended = { ...none, COMPLETED: 1, CANCELLED: 4 };
  expect(await batches.counts(batch.id)).toEqual(ended);

  // Read from the batch's row: its items going (the retention deletes them before the batch) change nothing.
  await client.query("DELETE FROM tasks WHERE batch_id = $1", [batch.id]);
  expect(await batches.counts(batch.id)).toEqual(ended);
});

it("counts an ended batch whose kept counts fall short of its total (lines written after it ended) from its items", async () => {
  const { batch, ids, batches, tasks } = await batchOf(4);
  // Two of the four lines are in when the batch ends (a cancel while its ingest still writes).
  await client.query("DELETE FROM tasks WHERE task_id = ANY($1)", [ids.slice(2)]);
  await tasks.closePendingOfBatch(batch.id, "CANCELLED");
  expect(await batches.transition(batch.id, ["in_progress"], "cancelled")).toBe(true);
  expect(await batches.counts(batch.id)).toEqual({ ...none, CANCELLED: 2 });
  // The last two come in afterwards and are closed in their turn.
  const prepared = { endpoint: "task" as const, model: { id: "m", queueName: "llm_m_queue" } as never, messages: [{ role: "user" as const, content: "x" }], configs: { model: "m", max_tokens: 4, n: 1 } };
  await tasks.createBatchTasks(batch.id, [2, 3].map((i) => batchTaskOf(batch, { task: prepared, customId: `r${i}` }, i)));
  await tasks.closePendingOfBatch(batch.id, "CANCELLED");
  expect(await batches.counts(batch.id)).toEqual({ ...none, CANCELLED: 4 });
});

it("counts an ended batch that has no stored counts (ended before they were kept) from its items", async () => {
  const { batch, batches, tasks } = await batchOf(3);
  await tasks.closePendingOfBatch(batch.id, "EXPIRED");
  await client.query("UPDATE batches SET status = 'expired', expired_at = now() WHERE id = $1", [batch.id]);
  expect(await batches.counts(batch.id)).toEqual({ ...none, EXPIRED: 3 });
});

it("an unknown batch counts nothing", async () => {
  expect(await new BatchRepository(db).counts(newBatchId())).toEqual(none);
});
