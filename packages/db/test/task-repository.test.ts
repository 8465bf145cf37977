import { newBatchId, newTaskId } from "@llmq/core";
import { createTestDatabase } from "@llmq/testkit";
import { Client } from "pg";
import { BatchRepository, type Database, TaskRepository, UserRepository, batchTaskOf, createDatabase, decodeCursor, encodeCursor } from "../src";

let db: Database;
let url: string;
let drop: () => Promise<void>;
let tasks: TaskRepository;
let ownerId: string;

beforeAll(async () => {
  const database = await createTestDatabase();
  drop = database.drop;
  url = database.url;
  db = createDatabase({ databaseUrl: database.url });
  tasks = new TaskRepository(db);
  ownerId = (await new UserRepository(db).create("owner")).id;
});
afterAll(async () => {
  await db.$disconnect();
  await drop();
});

const newTask = () =>
  tasks.create({ id: newTaskId(), ownerId, model: "m", queueName: "llm_m_queue", messages: [{ role: "user", content: "hi" }], configs: { model: "m", max_tokens: 5 } });
const progress = { response: "partial", percent: 40, completionTokens: 2, firstTokenAt: new Date(), choices: [] };
const outcome = { ...progress, response: "done", percent: 100, finishReason: "stop" as const, promptTokens: 3 };

describe("TaskRepository conditional updates", () => {
  it("fences a taken-over attempt out of every write", async () => {
    const task = await newTask();
    const first = await tasks.startAttempt(task.id);
    const second = await tasks.startAttempt(task.id); // the first worker stalled; another took over
    expect([first?.attempt, second?.attempt]).toEqual([1, 2]);
    expect(await tasks.checkpoint(task.id, 1, progress)).toBe(false);
    expect(await tasks.complete(task.id, 1, outcome)).toBe(false);
    expect(await tasks.checkpoint(task.id, 2, progress)).toBe(true);
    expect(await tasks.complete(task.id, 2, outcome)).toBe(true);
    expect(await tasks.complete(task.id, 2, outcome)).toBe(false); // never completed twice
    expect((await tasks.findById(task.id))?.response).toBe("done");
  });

  it("never revives a cancelled task", async () => {
    const task = await newTask();
    expect(await tasks.cancel(task.id)).toBe("PENDING");
    expect(await tasks.cancel(task.id)).toBeNull();
    expect(await tasks.startAttempt(task.id)).toBeNull();
    expect((await tasks.findById(task.id))?.status).toBe("CANCELLED");
  });

  it("keeps a cancelled attempt's partial output but does not complete it", async () => {
    const task = await newTask();
    await tasks.startAttempt(task.id);
    expect(await tasks.cancel(task.id)).toBe("RUNNING");
    expect(await tasks.complete(task.id, 1, outcome)).toBe(false);
    expect(await tasks.recordCancelledOutput(task.id, 1, { ...progress, promptTokens: 3 })).toBe(true);
    const stored = await tasks.findById(task.id);
    expect(stored).toMatchObject({ status: "CANCELLED", response: "partial", completionTokens: 2 });
  });

  it("erases a finished response's content but keeps its row and usage; an unfinished or non-response task is left alone", async () => {
    const response = () =>
      tasks.create({
        id: newTaskId(),
        ownerId,
        model: "m",
        endpoint: "response",
        queueName: "llm_m_queue",
        messages: [{ role: "user", content: "a secret" }],
        configs: { model: "m", max_tokens: 5, metadata: { k: "v" }, passthrough: { user: "u" }, responses: { instructions: "private", store: true, background: true, input_messages: 1 } },
      });
    const task = await response();
    await tasks.startAttempt(task.id);
    expect(await tasks.eraseResponse(task.id)).toBe(false); // still running: cancel first
    expect(await tasks.complete(task.id, 1, { ...outcome, response: "the secret answer", choices: [{ index: 0, text: "the secret answer", finishReason: "stop", toolCalls: [] }] })).toBe(true);
    expect(await tasks.eraseResponse(task.id)).toBe(true);
    const erased = await tasks.findById(task.id);
    expect(erased).toMatchObject({ status: "COMPLETED", response: "", choices: null, messages: [], completionTokens: 2, promptTokens: 3 });
    expect(erased?.configs).toEqual({ model: "m", max_tokens: 5, responses: { erased: true, store: true, background: true } });

    const plain = await newTask();
    await tasks.cancel(plain.id);
    expect(await tasks.eraseResponse(plain.id)).toBe(false);
    expect((await tasks.findById(plain.id))?.messages).toEqual([{ role: "user", content: "hi" }]);
  });

  it("a response erased while its cancelled attempt stops keeps that attempt's usage, not its text", async () => {
    const task = await tasks.create({ id: newTaskId(), ownerId, model: "m", endpoint: "response", queueName: "llm_m_queue", messages: [{ role: "user", content: "x" }], configs: { model: "m", max_tokens: 5, responses: { store: true } } });
    await tasks.startAttempt(task.id);
    expect(await tasks.cancel(task.id)).toBe("RUNNING");
    expect(await tasks.eraseResponse(task.id)).toBe(true); // DELETE /v1/responses/{id}: cancelled, then erased
    expect(await tasks.recordCancelledOutput(task.id, 1, { ...progress, choices: [{ index: 0, text: "partial", finishReason: null, toolCalls: [] }], promptTokens: 3 })).toBe(true);
    expect(await tasks.findById(task.id)).toMatchObject({ status: "CANCELLED", response: "", choices: null, completionTokens: 2, promptTokens: 3 });
  });

  it("erases responses past their retention in bounded batches, oldest first, skipping rows another transaction holds", async () => {
    const DAY = 24 * 3600;
    const response = async (endedHoursAgo: number | null) => {
      const task = await tasks.create({ id: newTaskId(), ownerId, model: "m", endpoint: "response", queueName: "llm_m_queue", messages: [{ role: "user", content: "kept?" }], configs: { model: "m", max_tokens: 5, responses: { store: true } } });
      if (endedHoursAgo === null) return task.id;
      await tasks.startAttempt(task.id);
      await tasks.complete(task.id, 1, outcome);
      await db.$executeRaw`UPDATE tasks SET completed_at = now() - ${endedHoursAgo}::int * interval '1 hour' WHERE task_id = ${task.id}`;
      return task.id;
    };
    const [oldest, older, old, young, unfinished] = [await response(27), await response(26), await response(25), await response(23), await response(null)];
    const plain = await newTask();
    await tasks.cancel(plain.id);
    await db.$executeRaw`UPDATE tasks SET completed_at = now() - interval '30 days', created_at = now() - interval '30 days' WHERE task_id = ${plain.id}`;
    await db.$executeRaw`UPDATE tasks SET created_at = now() - interval '30 days' WHERE task_id = ${unfinished}`;

    // Another sweeper (or a DELETE) holds the oldest: it is skipped, not waited for.
    const other = new Client({ connectionString: url });
    await other.connect();
    try {
      await other.query("BEGIN");
      await other.query("SELECT task_id FROM tasks WHERE task_id = $1 FOR UPDATE", [oldest]);
      expect(await tasks.eraseResponsesPastRetention(DAY, 1)).toEqual([older]);
      expect(await tasks.eraseResponsesPastRetention(DAY, 5)).toEqual([old]);
      await other.query("COMMIT");
    } finally {
      await other.end();
    }
    expect(await tasks.eraseResponsesPastRetention(DAY, 5)).toEqual([oldest]);
    expect(await tasks.eraseResponsesPastRetention(DAY, 5)).toEqual([]);

    expect(await tasks.findById(oldest)).toMatchObject({ status: "COMPLETED", response: "", messages: [], completionTokens: 2, promptTokens: 3, configs: { model: "m", max_tokens: 5, responses: { erased: true, store: true } } });
    for (const id of [young, unfinished]) expect((await tasks.findById(id))?.messages).toEqual([{ role: "user", content: "kept?" }]);
    expect((await tasks.findById(young))?.response).toBe("done");
    expect((await tasks.findById(plain.id))?.messages).toEqual([{ role: "user", content: "hi" }]);
    // A shorter retention reaches the younger one.
    expect(await tasks.eraseResponsesPastRetention(3600, 5)).toEqual([young]);
  });

  it("a new attempt starts from empty text", async () => {
    const task = await newTask();
    await tasks.startAttempt(task.id);
    await tasks.checkpoint(task.id, 1, progress);
    await tasks.startAttempt(task.id);
    expect(await tasks.findById(task.id)).toMatchObject({ response: "", percent: 0, completionTokens: 0, attempts: 2, status: "RUNNING" });
  });

  it("releases a failed attempt for retry, and fails for good", async () => {
    const task = await newTask();
    await tasks.startAttempt(task.id);
    expect(await tasks.releaseForRetry(task.id, 1, { code: "upstream_server_error", message: "500" })).toBe(true);
    expect((await tasks.findById(task.id))?.status).toBe("PENDING");
    await tasks.startAttempt(task.id);
    expect(await tasks.fail(task.id, 2, { code: "upstream_bad_request", message: "400" })).toBe(true);
    expect(await tasks.fail(task.id, 2, { code: "again", message: "again" })).toBe(false);
    expect(await tasks.findById(task.id)).toMatchObject({ status: "FAILED", errorCode: "upstream_bad_request" });
  });
});

describe("history cursors", () => {
  it("round-trips and rejects forged values", () => {
    const cursor = { createdAt: new Date("2026-01-02T03:04:05.678Z"), id: "a".repeat(32) };
    expect(decodeCursor(encodeCursor(cursor))).toEqual(cursor);
    expect(decodeCursor("bm9wZQ")).toBeNull();
    expect(decodeCursor("")).toBeNull();
  });
});

describe("scheduling columns", () => {
  const row = (tier?: "priority" | "default" | "flex") => ({
    id: newTaskId(),
    ownerId,
    model: "m",
    queueName: "llm_m_queue",
    messages: [{ role: "user" as const, content: "hi" }],
    configs: { model: "m", max_tokens: 5 },
    ...(tier ? { tier } : {}),
  });

  it("stores a task's service tier through every insert path and reads it back (default: default; batch items: flex)", async () => {
    expect((await tasks.create(row("priority"))).tier).toBe("priority");
    expect((await tasks.create(row())).tier).toBe("default");
    const many = await tasks.createMany([row("flex"), row(), row("priority")]);
    expect(many.map((task) => task.tier)).toEqual(["flex", "default", "priority"]);
    expect((await tasks.findById(many[0]!.id))?.tier).toBe("flex");

    const batch = await new BatchRepository(db).create({
      id: newBatchId(),
      ownerId,
      kind: "native",
      endpoint: "/v1/ai/text_completion",
      inputFileId: null,
      completionWindow: "24h",
      metadata: null,
      expiresAt: new Date(Date.now() + 3_600_000),
      status: "in_progress",
    });
    const prepared = (tier?: "priority") => ({ endpoint: "task" as const, model: { id: "m", queueName: "llm_m_queue" } as never, messages: [{ role: "user" as const, content: "x" }], configs: { model: "m", max_tokens: 4, n: 1 }, ...(tier ? { tier } : {}) });
    const items = [batchTaskOf(batch, { task: prepared(), customId: "a" }, 0), batchTaskOf(batch, { task: prepared("priority"), customId: "b" }, 1)];
    expect(await tasks.createBatchTasks(batch.id, items)).toBe(2);
    expect((await tasks.findByIds(items.map((item) => item.id))).map((task) => [task.customId, task.tier]).sort()).toEqual([
      ["a", "flex"],
      ["b", "priority"],
    ]);
  });

  it("the database refuses a tier outside priority/default/flex and a fair share weight outside 1..1000", async () => {
    await expect(tasks.create({ ...row(), tier: "turbo" as never })).rejects.toThrow(/tasks_service_tier_known/);
    await expect(db.$executeRaw`UPDATE users SET fair_share_weight = 0 WHERE id = ${ownerId}::uuid`).rejects.toThrow(/users_fair_share_weight_range/);
    await expect(db.$executeRaw`UPDATE users SET fair_share_weight = 1001 WHERE id = ${ownerId}::uuid`).rejects.toThrow(/users_fair_share_weight_range/);
    expect(await db.$executeRaw`UPDATE users SET fair_share_weight = 1000 WHERE id = ${ownerId}::uuid`).toBe(1);
  });
});

// Issue 17: `final_status` (the status once a task ended, null while open) keys a user's history of one
// final status (tasks_owner_final_status_idx). Every statement that ends a task writes it with completed_at;
// none that leaves a task open does.
describe("final_status", () => {
  const finalStatusOf = async (id: string) => {
    const client = new Client({ connectionString: url });
    await client.connect();
    try {
      const { rows } = await client.query<{ status: string; final_status: string | null }>("SELECT status::text, final_status::text FROM tasks WHERE task_id = $1", [id]);
      return [rows[0]!.status, rows[0]!.final_status];
    } finally {
      await client.end();
    }
  };

  it("is null while a task is open (created, started, checkpointed, released for a retry) and its final status once it ended, however it ended", async () => {
    const open = await newTask();
    expect(await finalStatusOf(open.id)).toEqual(["PENDING", null]);
    expect((await tasks.startAttempt(open.id))?.attempt).toBe(1);
    expect(await tasks.checkpoint(open.id, 1, progress)).toBe(true);
    expect(await finalStatusOf(open.id)).toEqual(["RUNNING", null]);
    expect(await tasks.releaseForRetry(open.id, 1, { code: "upstream_timeout", message: "slow" })).toBe(true);
    expect(await finalStatusOf(open.id)).toEqual(["PENDING", null]);

    const completed = await newTask();
    await tasks.startAttempt(completed.id);
    expect(await tasks.complete(completed.id, 1, outcome)).toBe(true);
    expect(await finalStatusOf(completed.id)).toEqual(["COMPLETED", "COMPLETED"]);

    const failed = await newTask();
    await tasks.startAttempt(failed.id);
    expect(await tasks.fail(failed.id, 1, { code: "upstream_bad_request", message: "no" })).toBe(true);
    expect(await finalStatusOf(failed.id)).toEqual(["FAILED", "FAILED"]);

    const cancelled = await newTask();
    expect(await tasks.cancel(cancelled.id)).toBe("PENDING");
    expect(await finalStatusOf(cancelled.id)).toEqual(["CANCELLED", "CANCELLED"]);

    const running = await newTask();
    await tasks.startAttempt(running.id);
    expect(await tasks.cancel(running.id)).toBe("RUNNING");
    expect(await finalStatusOf(running.id)).toEqual(["CANCELLED", "CANCELLED"]);
    // The cancelled attempt's output kept on its row later: still CANCELLED.
    expect(await tasks.recordCancelledOutput(running.id, 1, { ...progress, promptTokens: 3 })).toBe(true);
    expect(await finalStatusOf(running.id)).toEqual(["CANCELLED", "CANCELLED"]);

    // Past their queue deadline, never started.
    const overdue = () =>
      tasks.create({ id: newTaskId(), ownerId, model: "m", queueName: "llm_m_queue", messages: [{ role: "user", content: "hi" }], configs: { model: "m", max_tokens: 5 }, expiresAt: new Date(Date.now() - 1000) });
    const expired = await overdue();
    expect(await tasks.expireIfUnstarted(expired.id)).not.toBeNull();
    expect(await finalStatusOf(expired.id)).toEqual(["EXPIRED", "EXPIRED"]);
    const expiredToo = await overdue();
    expect(await tasks.expireUnstarted([expiredToo.id])).toHaveLength(1);
    expect(await finalStatusOf(expiredToo.id)).toEqual(["EXPIRED", "EXPIRED"]);

    // Nothing can make it disagree with the row: a stray write is corrected by the trigger.
    const client = new Client({ connectionString: url });
    await client.connect();
    try {
      await client.query(`UPDATE tasks SET final_status = 'FAILED' WHERE task_id = ANY($1::text[])`, [[completed.id, open.id]]);
    } finally {
      await client.end();
    }
    expect(await finalStatusOf(completed.id)).toEqual(["COMPLETED", "COMPLETED"]);
    expect(await finalStatusOf(open.id)).toEqual(["PENDING", null]);
  });

  it("closes a batch's pending items with their final status", async () => {
    const batch = await new BatchRepository(db).create({
      id: newBatchId(),
      ownerId,
      kind: "native",
      endpoint: "/v1/ai/text_completion",
      inputFileId: null,
      completionWindow: "24h",
      metadata: null,
      expiresAt: new Date(Date.now() + 3_600_000),
      status: "in_progress",
    });
    const prepared = { endpoint: "task" as const, model: { id: "m", queueName: "llm_m_queue" } as never, messages: [{ role: "user" as const, content: "x" }], configs: { model: "m", max_tokens: 4, n: 1 } };
    const items = [batchTaskOf(batch, { task: prepared, customId: "a" }, 0), batchTaskOf(batch, { task: prepared, customId: "b" }, 1)];
    expect(await tasks.createBatchTasks(batch.id, items)).toBe(2);
    expect(await finalStatusOf(items[0]!.id)).toEqual(["PENDING", null]);
    expect(await tasks.closePendingOfBatch(batch.id, "EXPIRED")).toHaveLength(2);
    for (const item of items) expect(await finalStatusOf(item.id)).toEqual(["EXPIRED", "EXPIRED"]);
  });
});
