import { newTaskId, resolveModelsConfig } from "@llmq/core";
import { createLogger } from "@llmq/config";
import { type Database, UserRepository, createDatabase } from "@llmq/db";
import { type RedisConnection, type TaskUpdate, closeRedis, createRedis, keySpace, subscribeTaskUpdates } from "@llmq/queue";
import { createTestDatabase, eventually, testRedisUrl, uniquePrefix } from "@llmq/testkit";
import { type Runtime, createRuntime } from "../src";

// The composition itself, on real Postgres and Redis: a task created through the engine is a row, an
// event in its stream and a job on its model's queue, and the listeners it registered run (live lists).

const models = resolveModelsConfig({ providers: { sim: { type: "simulated" } }, models: [{ id: "m", provider: "sim" }] }, {});
const QUEUE = models.models[0]!.queueName;
const keys = keySpace(uniquePrefix());
let db: Database;
let drop: () => Promise<void>;
let redis: RedisConnection;
let subscriber: RedisConnection;
let runtime: Runtime;

beforeAll(async () => {
  const database = await createTestDatabase();
  drop = database.drop;
  db = createDatabase({ databaseUrl: database.url });
  redis = createRedis(testRedisUrl(), { name: "runtime-test" });
  subscriber = createRedis(testRedisUrl(), { blocking: true, name: "runtime-test-updates" });
  runtime = createRuntime({ db, redis, queueRedis: redis }, { keys, models, logger: createLogger({ name: "runtime-test", level: "silent" }) });
});
afterAll(async () => {
  await runtime.engine.close();
  await runtime.closeQueues();
  await Promise.all([redis, subscriber].map(closeRedis));
  await db.$disconnect();
  await drop();
});

describe("createRuntime", () => {
  it("wires the engine over the shared repositories and producers, with its listeners registered", async () => {
    const heard: TaskUpdate[] = [];
    await subscribeTaskUpdates(subscriber, keys, (updates) => heard.push(...updates));
    const ownerId = (await new UserRepository(db).create("runtime")).id;
    const id = newTaskId();
    await runtime.engine.tasks.create({ id, ownerId, model: "m", queueName: QUEUE, messages: [{ role: "user", content: "hi" }], configs: { model: "m", max_tokens: 4 } });
    expect(await db.task.count({ where: { id } })).toBe(1);
    expect(await runtime.queues.jobState(QUEUE, id)).not.toBeNull();
    // The live-list listener (registered by createRuntime) announced it.
    await eventually(async () => heard.some((update) => JSON.stringify(update).includes(id)) || undefined, { timeoutMs: 5_000 });
    // The engine's events reach the task's stream (a cancel's; a waiting task has none before its first).
    expect(await runtime.events.readAfter(id, "0")).toEqual([]);
    await runtime.engine.tasks.cancel((await runtime.tasks.findById(id))!);
    expect((await runtime.events.readAfter(id, "0")).map((entry) => entry.event.type)).toEqual(["status", "final"]);
  });
});

describe("createRuntime with a connection for BullMQ's producers (jobsRedis)", () => {
  it("defines BullMQ's scripts there only: the engine's connection builds pipelines as small as an empty connection's", async () => {
    const queueRedis = createRedis(testRedisUrl(), { name: "runtime-test-queue" });
    const jobsRedis = createRedis(testRedisUrl(), { name: "runtime-test-jobs" });
    const empty = createRedis(testRedisUrl(), { name: "runtime-test-empty" });
    const own = createRuntime({ db, redis, queueRedis, jobsRedis }, { keys: keySpace(uniquePrefix()), models, logger: createLogger({ name: "runtime-test", level: "silent" }) });
    try {
      await own.batchJobs.enqueueIngest("batch-1");
      expect(await own.batchJobs.hasIngest("batch-1")).toBe(true);
      expect(Object.keys(jobsRedis.pipeline()).length).toBeGreaterThan(Object.keys(empty.pipeline()).length);
      expect(Object.keys(queueRedis.pipeline()).sort()).toEqual(Object.keys(empty.pipeline()).sort());
    } finally {
      await own.engine.close();
      await own.closeQueues();
      await Promise.all([queueRedis, jobsRedis, empty].map(closeRedis));
    }
  });
});
