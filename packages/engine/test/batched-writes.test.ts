import { randomUUID } from "node:crypto";
import { ServiceUnavailableError, newTaskId, resolveModelsConfig } from "@llmq/core";
import { createLogger } from "@llmq/config";
import { BatchRepository, type Database, TaskRepository, UserRepository, createDatabase, isDatabaseUnavailable } from "@llmq/db";
import { type KeySpace, type RedisConnection, TaskEventLog, TaskQueues, closeRedis, createRedis, keySpace, pingRedis } from "@llmq/queue";
import { type PrivatePostgres, type PrivateRedis, eventually, startPrivatePostgres, startPrivateRedis, uniquePrefix } from "@llmq/testkit";
import { TaskEngine } from "../src";

// The engine writes a tick's calls together (one INSERT, one UPDATE ... FROM unnest). Under faults that
// must lose nothing and do nothing twice: a bad row fails alone, Postgres gone fails the tick's callers
// (and leaves nothing), Redis gone after the commit withdraws the rows it could not enqueue.

const models = resolveModelsConfig({ providers: { sim: { type: "simulated" } }, models: [{ id: "m", provider: "sim" }] }, {});
const QUEUE = models.models[0]!.queueName;
const logger = createLogger({ name: "batched-writes", level: "silent" });

let postgres: PrivatePostgres;
let redisServer: PrivateRedis;
let db: Database;
let redis: RedisConnection;
let keys: KeySpace;
let tasks: TaskRepository;
let queues: TaskQueues;
let log: TaskEventLog;
let engine: TaskEngine;
let ownerId: string;

beforeAll(async () => {
  [postgres, redisServer] = await Promise.all([startPrivatePostgres(), startPrivateRedis()]);
  db = createDatabase({ databaseUrl: postgres.url });
  // A fail-fast connection, as the API's: a command while Redis is down fails at once.
  redis = createRedis(redisServer.url);
  keys = keySpace(uniquePrefix());
  tasks = new TaskRepository(db);
  queues = new TaskQueues(redis, keys.root, models.models);
  log = new TaskEventLog(redis, keys);
  engine = new TaskEngine({ tasks, batches: new BatchRepository(db), queues, log, logger });
  ownerId = (await new UserRepository(db).create("batched writes")).id;
}, 60_000);

afterAll(async () => {
  await engine?.close().catch(() => undefined);
  await queues?.close().catch(() => undefined);
  if (redis) await closeRedis(redis);
  await db?.$disconnect();
  await Promise.all([postgres?.destroy(), redisServer?.destroy()]);
});

const row = (owner = ownerId) => ({ id: newTaskId(), ownerId: owner, model: "m", queueName: QUEUE, messages: [{ role: "user" as const, content: "hi" }], configs: { model: "m", max_tokens: 4 } });
const rowCount = async (ids: string[]) => db.task.count({ where: { id: { in: ids } } });
const jobs = async (ids: string[]) => (await Promise.all(ids.map((id) => queues.jobState(QUEUE, id)))).filter(Boolean).length;

describe("batched writes under faults", () => {
  it("one invalid row among valid ones in a tick fails alone; its neighbours are committed, evented and enqueued", async () => {
    const rows = [row(), row(), row(randomUUID()), row(), row()];
    const results = await Promise.allSettled(rows.map((r) => engine.tasks.create(r)));
    expect(results.map((result) => result.status)).toEqual(["fulfilled", "fulfilled", "rejected", "fulfilled", "fulfilled"]);
    const good = rows.filter((_, index) => index !== 2).map((r) => r.id);
    expect(await rowCount(good)).toBe(4);
    expect(await rowCount([rows[2]!.id])).toBe(0);
    expect(await jobs(good)).toBe(4);
    expect(await jobs([rows[2]!.id])).toBe(0);
    // Waiting, so without an event stream yet (its first event after PENDING opens it).
    for (const id of good) expect(await log.readAfter(id, "0")).toEqual([]);
  });

  it("one tick's starts and completions are written together, each fenced by its own attempt", async () => {
    const created = await Promise.all([row(), row(), row()].map((r) => engine.tasks.create(r)));
    const starts = await Promise.all(created.map((task) => engine.tasks.start(task.id)));
    expect(starts.map((start) => start.kind)).toEqual(["started", "started", "started"]);
    const attempts = starts.map((start) => (start.kind === "started" ? start.attempt : null)!);
    const outcome = { response: "ok", percent: 100, completionTokens: 1, firstTokenAt: new Date(), choices: [], finishReason: "stop" as const, promptTokens: 1 };
    // The second one with a wrong attempt number: fenced off, while its neighbours complete.
    const done = await Promise.all(attempts.map((attempt, index) => engine.tasks.complete(attempt.ref, index === 1 ? attempt.attempt + 1 : attempt.attempt, outcome)));
    expect(done).toEqual([true, false, true]);
    const statuses = await Promise.all(created.map(async (task) => (await tasks.findById(task.id))!.status));
    expect(statuses).toEqual(["COMPLETED", "RUNNING", "COMPLETED"]);
  });

  it("Postgres stopped: every submit of the tick fails as an outage and nothing is enqueued; after the restart submits work again", async () => {
    await postgres.stop();
    try {
      const rows = [row(), row(), row()];
      const results = await Promise.allSettled(rows.map((r) => engine.tasks.create(r)));
      expect(results.every((result) => result.status === "rejected" && isDatabaseUnavailable(result.reason))).toBe(true);
      expect(await jobs(rows.map((r) => r.id))).toBe(0);
    } finally {
      await postgres.start();
    }
    const after = row();
    await expect(engine.tasks.create(after)).resolves.toMatchObject({ id: after.id, status: "PENDING" });
  }, 60_000);

  it("Redis killed after the commit and before the enqueue: the tick's rows are withdrawn and every caller gets 503", async () => {
    await redisServer.kill();
    const rows = [row(), row(), row()];
    try {
      const results = await Promise.allSettled(rows.map((r) => engine.tasks.create(r)));
      expect(results.every((result) => result.status === "rejected" && result.reason instanceof ServiceUnavailableError)).toBe(true);
      // Committed first, then withdrawn: nothing acknowledged is kept, nothing unacknowledged either.
      expect(await rowCount(rows.map((r) => r.id))).toBe(0);
    } finally {
      await redisServer.start();
    }
    // The fail-fast connection reconnects by itself; meanwhile submits keep getting 503.
    await eventually(async () => (await pingRedis(redis)) || undefined, { what: "the connection back" });
    const after = row();
    await expect(engine.tasks.create(after)).resolves.toMatchObject({ id: after.id });
    expect(await jobs([after.id])).toBe(1);
  }, 60_000);
});
