import { type StoredWebhook, type TaskStatus, newBatchId, newTaskId, resolveModelsConfig } from "@llmq/core";
import { createLogger } from "@llmq/config";
import { BatchRepository, type Database, TaskRepository, UserRepository, WebhookDeliveryRepository, batchTaskOf, createDatabase } from "@llmq/db";
import {
  type KeySpace,
  type RedisConnection,
  TaskEventLog,
  TaskQueues,
  TaskUpdates,
  TokenUsage,
  WEBHOOK_QUEUE,
  WebhookJobs,
  closeRedis,
  createRedis,
  keySpace,
  subscribeCancels,
  subscribeTaskUpdates,
} from "@llmq/queue";
import { createTestDatabase, eventually, testRedisUrl, uniquePrefix } from "@llmq/testkit";
import { WebhookNotifier } from "@llmq/webhooks";
import { type EngineEventName, type EngineEvents, TaskEngine, registerListeners } from "../src";

// Every transition through a real engine on real Postgres and Redis, with the listeners a process
// registers: each must reach its bus event, the live task list (a PUBLISH on the updates channel), the
// webhook deliveries (a row per event), the task's event stream, and for batch items the batch itself.

const models = resolveModelsConfig({ providers: { sim: { type: "simulated" } }, models: [{ id: "m", provider: "sim" }] }, {});
const QUEUE = models.models[0]!.queueName;
const HOOK: StoredWebhook = { url: "https://hooks.example.com/in", events: ["completed", "failed", "cancelled", "expired", "progress"], key_id: null };

let database: { url: string; drop: () => Promise<void> };
let db: Database;
let redis: RedisConnection;
let subscriber: RedisConnection;
let keys: KeySpace;
let engine: TaskEngine;
let tasks: TaskRepository;
let batches: BatchRepository;
let queues: TaskQueues;
let log: TaskEventLog;
let deliveries: WebhookDeliveryRepository;
let tokenUsage: TokenUsage;
let ownerId: string;
const heard: { name: EngineEventName; event: unknown }[] = [];
const published: string[] = [];
const cancelSignals: string[] = [];

beforeAll(async () => {
  database = await createTestDatabase();
  db = createDatabase({ databaseUrl: database.url });
  redis = createRedis(testRedisUrl(), { blocking: true });
  subscriber = createRedis(testRedisUrl(), { blocking: true });
  keys = keySpace(uniquePrefix());
  tasks = new TaskRepository(db);
  batches = new BatchRepository(db);
  queues = new TaskQueues(redis, keys.root, models.models);
  log = new TaskEventLog(redis, keys);
  deliveries = new WebhookDeliveryRepository(db);
  tokenUsage = new TokenUsage(redis, keys);
  const logger = createLogger({ name: "engine-test", level: "silent" });
  const webhooks = new WebhookNotifier({ deliveries, jobs: new WebhookJobs(redis, keys.bull(WEBHOOK_QUEUE)), tasks, batches, logger });
  engine = new TaskEngine({ tasks, batches, queues, log, logger });
  registerListeners(engine, { updates: new TaskUpdates(redis, keys), webhooks, tokenUsage, batches, redis, keys });
  const names: EngineEventName[] = ["task.created", "task.started", "task.progressed", "task.completed", "task.failed", "task.retried", "task.cancelled", "task.expired", "batch.created", "batch.started", "batch.progressed", "batch.ended"];
  for (const name of names) engine.bus.on(name, (event) => void heard.push({ name, event }));
  await subscribeTaskUpdates(subscriber, keys, (updates) => published.push(...updates.map((update) => update.taskId)));
  await subscribeCancels(subscriber, keys, (taskId) => cancelSignals.push(taskId));
  ownerId = (await new UserRepository(db).create("engine test")).id;
});

afterAll(async () => {
  await engine?.close();
  await queues?.close();
  await Promise.all([redis, subscriber].map((connection) => (connection ? closeRedis(connection) : undefined)));
  await db?.$disconnect();
  await database?.drop();
});

const newRow = (extra: { expiresAt?: Date; webhook?: StoredWebhook | null } = {}) => ({
  id: newTaskId(),
  ownerId,
  model: "m",
  queueName: QUEUE,
  messages: [{ role: "user" as const, content: "hi" }],
  configs: { model: "m", max_tokens: 8 },
  webhook: extra.webhook === undefined ? HOOK : extra.webhook,
  expiresAt: extra.expiresAt ?? null,
});

function heardFor<E extends EngineEventName>(name: E, taskId: string): EngineEvents[E] | undefined {
  const about = (event: unknown) => {
    const { task, tasks } = event as { task?: { id: string }; tasks?: { id: string }[] };
    return task?.id === taskId || (tasks ?? []).some((one) => one.id === taskId);
  };
  return heard.find((entry) => entry.name === name && about(entry.event))?.event as EngineEvents[E] | undefined;
}

async function statusEvents(taskId: string): Promise<string[]> {
  const entries = await log.readAfter(taskId, "0");
  return entries.flatMap(({ event }) => (event.type === "status" ? [event.status] : event.type === "final" ? [`final:${event.status}`] : []));
}

const deliveryIds = async (taskId: string) => (await db.webhookDelivery.findMany({ where: { taskId }, select: { id: true } })).map((row) => row.id).sort();
const statusOf = async (taskId: string): Promise<TaskStatus | undefined> => (await tasks.findById(taskId))?.status;

async function started(taskId: string) {
  const result = await engine.tasks.start(taskId);
  if (result.kind !== "started") throw new Error(`task ${taskId} did not start: ${result.kind}`);
  return result.attempt;
}

describe("the engine's task transitions reach every listener", () => {
  it("created: row, job, live list, and no event stream yet", async () => {
    const task = await engine.tasks.create(newRow());
    expect(heardFor("task.created", task.id)).toMatchObject({ tasks: [{ id: task.id, ownerId, queueName: QUEUE }] });
    expect(await statusOf(task.id)).toBe("PENDING");
    // A waiting task costs Redis no stream: its first event after PENDING opens it (followers are shown
    // PENDING by the API's relay).
    expect(await redis.exists(keys.taskEvents(task.id))).toBe(0);
    expect(await queues.jobState(QUEUE, task.id)).toMatchObject({ state: "waiting" });
    await eventually(async () => published.includes(task.id) || undefined, { what: "the live-list update" });
  });

  it("started, progressed, completed: events, live list, progress and final webhooks, usage counted", async () => {
    const task = await engine.tasks.create(newRow());
    const attempt = await started(task.id);
    expect(attempt.attempt).toBe(1);
    expect(heardFor("task.started", task.id)).toMatchObject({ attempt: 1 });
    expect(await statusOf(task.id)).toBe("RUNNING");
    published.length = 0;
    // Progress reaches live lists at most once a second per task.
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const progress = { response: "par", percent: 50, completionTokens: 4, firstTokenAt: new Date(), choices: [{ index: 0, text: "par", finishReason: null, toolCalls: [] }] };
    expect(await engine.tasks.checkpoint(attempt.ref, 1, progress)).toBe(true);
    expect(heardFor("task.progressed", task.id)).toMatchObject({ percent: 50 });
    await eventually(async () => published.includes(task.id) || undefined, { what: "the progress update" });
    await eventually(async () => ((await deliveryIds(task.id)).includes(`msg_${task.id}_progress_50`) ? true : undefined), { what: "the progress webhook" });

    const before = await tokenUsage.usedToday({ userId: ownerId, keyId: null });
    published.length = 0;
    expect(await engine.tasks.complete(attempt.ref, 1, { ...progress, percent: 100, response: "done", finishReason: "stop", promptTokens: 3 })).toBe(true);
    expect(heardFor("task.completed", task.id)).toMatchObject({ attempt: 1, usage: { promptTokens: 3, completionTokens: 4 } });
    expect(await statusOf(task.id)).toBe("COMPLETED");
    expect(await statusEvents(task.id)).toEqual(["RUNNING", "COMPLETED", "final:COMPLETED"]);
    await eventually(async () => published.includes(task.id) || undefined, { what: "the completion update" });
    expect(await deliveryIds(task.id)).toEqual([`msg_${task.id}_completed`, `msg_${task.id}_progress_50`].sort());
    expect((await tokenUsage.usedToday({ userId: ownerId, keyId: null })).user).toBe(before.user + 7);
    // Fenced: the attempt cannot complete twice, nor write after the end.
    expect(await engine.tasks.complete(attempt.ref, 1, { ...progress, finishReason: "stop", promptTokens: 3 })).toBe(false);
    expect(await engine.tasks.checkpoint(attempt.ref, 1, progress)).toBe(false);
  });

  it("started with events made before the attempt was known: numbered by it and appended with its RUNNING event", async () => {
    const task = await engine.tasks.create(newRow());
    const asked: number[] = [];
    const result = await engine.tasks.start(task.id, {
      heldEvents: (attempt) => {
        asked.push(attempt);
        return [{ type: "token", attempt, choice: 0, delta: "early", tokens: 1, percent: 1 }];
      },
    });
    expect(result.kind).toBe("started");
    expect(asked).toEqual([1]);
    await engine.events.flush();
    const entries = await log.readAfter(task.id, "0");
    expect(entries.map(({ event }) => event)).toEqual([
      { type: "status", status: "RUNNING", attempt: 1 },
      { type: "token", attempt: 1, choice: 0, delta: "early", tokens: 1, percent: 1 },
    ]);
    // Refused (the task is final): the callback is never asked, so nothing of the refused attempt is written.
    await engine.tasks.cancel(task);
    const refused = await engine.tasks.start(task.id, { heldEvents: (attempt) => (asked.push(attempt), []) });
    expect(refused.kind).toBe("not_runnable");
    expect(asked).toEqual([1]);
  });

  it("failed and retried: events, live list, the final webhook only once it failed", async () => {
    const task = await engine.tasks.create(newRow());
    const first = await started(task.id);
    published.length = 0;
    const error = { code: "upstream_server_error", message: "the upstream answered 500" };
    expect(await engine.tasks.retry(first.ref, 1, error)).toBe(true);
    expect(heardFor("task.retried", task.id)).toMatchObject({ attempt: 1, error });
    expect(await statusOf(task.id)).toBe("PENDING");
    await eventually(async () => published.includes(task.id) || undefined, { what: "the retry update" });
    expect(await deliveryIds(task.id)).toEqual([]);

    const second = await started(task.id);
    expect(second.attempt).toBe(2);
    // The first attempt is fenced off.
    expect(await engine.tasks.fail(first.ref, 1, error)).toBe(false);
    expect(await engine.tasks.fail(second.ref, 2, error)).toBe(true);
    expect(heardFor("task.failed", task.id)).toMatchObject({ attempt: 2, error });
    expect(await statusOf(task.id)).toBe("FAILED");
    expect(await statusEvents(task.id)).toEqual(["RUNNING", "PENDING", "RUNNING", "FAILED", "final:FAILED"]);
    await eventually(async () => ((await deliveryIds(task.id)).length === 1 ? true : undefined), { what: "the failed webhook" });
    expect(await deliveryIds(task.id)).toEqual([`msg_${task.id}_failed`]);
  });

  it("cancelled while waiting: job removed, events, live list, webhook; while running: the cancel signal", async () => {
    const waiting = await engine.tasks.create(newRow());
    published.length = 0;
    expect(await engine.tasks.cancel((await tasks.findById(waiting.id))!)).toBe("PENDING");
    expect(heardFor("task.cancelled", waiting.id)).toMatchObject({ previous: "PENDING" });
    expect(await queues.jobState(QUEUE, waiting.id)).toBeNull();
    expect(await statusEvents(waiting.id)).toEqual(["CANCELLED", "final:CANCELLED"]);
    await eventually(async () => published.includes(waiting.id) || undefined, { what: "the cancel update" });
    expect(await deliveryIds(waiting.id)).toEqual([`msg_${waiting.id}_cancelled`]);
    expect(cancelSignals).not.toContain(waiting.id);

    const running = await engine.tasks.create(newRow({ webhook: null }));
    await started(running.id);
    expect(await engine.tasks.cancel((await tasks.findById(running.id))!)).toBe("RUNNING");
    await eventually(async () => cancelSignals.includes(running.id) || undefined, { what: "the cancel signal to the running worker" });
    // Its final event says the attempt's output is still to be kept (the waiting one's did not); the
    // worker's keep then tells readers the row is as it stays.
    const finalOf = async (taskId: string) => (await log.readAfter(taskId, "0")).map(({ event }) => event).filter((event) => event.type === "final" || event.type === "output_kept");
    expect(await finalOf(waiting.id)).toEqual([{ type: "final", status: "CANCELLED" }]);
    expect(await finalOf(running.id)).toEqual([{ type: "final", status: "CANCELLED", outputPending: true }]);
    const ref = { id: running.id, ownerId: running.ownerId, batchId: null, apiKeyId: running.apiKeyId, queueName: running.queueName, webhook: null };
    expect(await engine.tasks.keepCancelledOutput(ref, 1, { response: "kept", percent: 50, completionTokens: 1, firstTokenAt: new Date(), choices: [], promptTokens: 2 })).toBe(true);
    expect(await finalOf(running.id)).toEqual([
      { type: "final", status: "CANCELLED", outputPending: true },
      { type: "output_kept", attempt: 1 },
    ]);
    // Cancelling a final task changes nothing and tells nobody.
    const count = heard.length;
    expect(await engine.tasks.cancel((await tasks.findById(running.id))!)).toBeNull();
    expect(heard.length).toBe(count);
  });

  it("expired at pickup (its queue deadline passed while it waited): live list, events, webhook, job gone", async () => {
    const task = await engine.tasks.create(newRow({ expiresAt: new Date(Date.now() - 1_000) }));
    published.length = 0;
    expect(await engine.tasks.start(task.id)).toEqual({ kind: "expired" });
    expect(heardFor("task.expired", task.id)).toMatchObject({ task: { id: task.id, ownerId } });
    expect(await statusOf(task.id)).toBe("EXPIRED");
    expect(await statusEvents(task.id)).toEqual(["EXPIRED", "final:EXPIRED"]);
    await eventually(async () => published.includes(task.id) || undefined, { what: "the expiry update" });
    expect(await deliveryIds(task.id)).toEqual([`msg_${task.id}_expired`]);
    expect(await queues.jobState(QUEUE, task.id)).toBeNull();
  });

  it("expired by the sweeper's round (a paused or unserved queue): the same", async () => {
    const task = await engine.tasks.create(newRow({ expiresAt: new Date(Date.now() - 1_000) }));
    published.length = 0;
    expect(await engine.tasks.expireOverdue(100)).toBeGreaterThanOrEqual(1);
    expect(heardFor("task.expired", task.id)).toBeDefined();
    await eventually(async () => published.includes(task.id) || undefined, { what: "the expiry update" });
    expect(await deliveryIds(task.id)).toEqual([`msg_${task.id}_expired`]);
  });
});

describe("the engine's batch transitions reach every listener", () => {
  async function newBatch(extra: { expiresAt?: Date } = {}) {
    const created = await engine.batches.create(
      {
        id: newBatchId(),
        ownerId,
        kind: "native",
        endpoint: "/v1/ai/text_completion",
        inputFileId: null,
        completionWindow: "24h",
        metadata: null,
        expiresAt: extra.expiresAt ?? new Date(Date.now() + 3_600_000),
        status: "validating",
        totalCount: 3,
        webhook: { url: "https://hooks.example.com/batch", events: ["completed", "cancelled", "expired"], key_id: null } satisfies StoredWebhook,
        apiKeyId: null,
      },
      0,
    );
    if ("refused" in created) throw new Error("refused");
    const rows = [0, 1, 2].map((index) => batchTaskOf(created, { customId: `c${index}`, task: { endpoint: "task", model: models.models[0]!, messages: [{ role: "user", content: `item ${index}` }], configs: { model: "m", max_tokens: 4, n: 1 } } }, index));
    await engine.tasks.createForBatch(created.id, rows);
    return { batch: created, rows };
  }
  const batchEnded = (batchId: string) => heard.find((entry) => entry.name === "batch.ended" && (entry.event as { batchId: string }).batchId === batchId)?.event;

  it("created, started, items created without event streams; the last item's end completes the batch (webhook sent)", async () => {
    const { batch, rows } = await newBatch();
    expect(heard.some((entry) => entry.name === "batch.created" && (entry.event as { batchId: string }).batchId === batch.id)).toBe(true);
    // A waiting item costs Redis no stream: its first event after PENDING opens it (followers are shown
    // PENDING by the API's relay). Its row is PENDING.
    for (const row of rows) {
      expect(await statusEvents(row.id)).toEqual([]);
      expect(await statusOf(row.id)).toBe("PENDING");
    }
    expect(await engine.batches.start(batch, rows.length)).toBe(true);
    expect((await batches.findById(batch.id))?.status).toBe("in_progress");
    const outcome = { response: "ok", percent: 100, completionTokens: 2, firstTokenAt: new Date(), choices: [], finishReason: "stop" as const, promptTokens: 1 };
    for (const row of rows) {
      const attempt = await started(row.id);
      expect(await engine.tasks.complete(attempt.ref, attempt.attempt, outcome)).toBe(true);
    }
    await eventually(async () => ((await batches.findById(batch.id))?.status === "completed" ? true : undefined), { what: "the batch to complete through its last task's listener" });
    expect(batchEnded(batch.id)).toMatchObject({ status: "completed" });
    await eventually(async () => ((await db.webhookDelivery.count({ where: { id: `msg_${batch.id}_completed` } })) === 1 ? true : undefined), { what: "the batch webhook" });
  });

  it("cancelled: queued items closed with their streams ended, the batch cancelled with its webhook", async () => {
    const { batch, rows } = await newBatch();
    await engine.batches.start(batch, rows.length);
    published.length = 0;
    expect(await engine.batches.cancel((await batches.findById(batch.id))!)).toBe("cancelling");
    for (const row of rows) {
      expect(await statusEvents(row.id)).toEqual(["CANCELLED", "final:CANCELLED"]);
      expect(heardFor("task.cancelled", row.id)).toMatchObject({ withBatch: true });
    }
    expect((await batches.findById(batch.id))?.status).toBe("cancelled");
    expect(batchEnded(batch.id)).toMatchObject({ status: "cancelled" });
    await eventually(async () => (rows.every((row) => published.includes(row.id)) ? true : undefined), { what: "the closed items' updates" });
    await eventually(async () => ((await db.webhookDelivery.count({ where: { id: `msg_${batch.id}_cancelled` } })) === 1 ? true : undefined), { what: "the batch webhook" });
    expect(await engine.batches.cancel((await batches.findById(batch.id))!)).toBe("already_cancelled");
  });

  it("past its window: queued items expire, the batch expires; while items remain it is announced for progress", async () => {
    const { batch, rows } = await newBatch();
    await engine.batches.start(batch, rows.length);
    await started(rows[0]!.id);
    await engine.batches.advance((await batches.findById(batch.id))!);
    expect(heard.some((entry) => entry.name === "batch.progressed" && (entry.event as { batch: { id: string } }).batch.id === batch.id)).toBe(true);

    await db.batch.update({ where: { id: batch.id }, data: { expiresAt: new Date(Date.now() - 1_000) } });
    await engine.batches.advance((await batches.findById(batch.id))!);
    for (const row of rows.slice(1)) expect(await statusOf(row.id)).toBe("EXPIRED");
    expect((await batches.findById(batch.id))?.status).toBe("in_progress");
    const running = await tasks.findById(rows[0]!.id);
    expect(await engine.tasks.fail({ id: running!.id, ownerId, batchId: batch.id, apiKeyId: null, queueName: QUEUE, webhook: null }, 1, { code: "x", message: "y" })).toBe(true);
    await eventually(async () => ((await batches.findById(batch.id))?.status === "expired" ? true : undefined), { what: "the batch to expire once its last item ended" });
    expect(batchEnded(batch.id)).toMatchObject({ status: "expired" });
  });
});
