import { newTaskId } from "@llmq/core";
import { createTestDatabase } from "@llmq/testkit";
import { ApiKeyRepository, type Database, TaskRepository, UserRepository, createDatabase } from "../src";

// The hot-path statements skip Prisma (src/task-sql.ts): their rows must be exactly what Prisma answers.
let db: Database;
let drop: () => Promise<void>;
let tasks: TaskRepository;
let ownerId: string;

beforeAll(async () => {
  const database = await createTestDatabase();
  drop = database.drop;
  db = createDatabase({ databaseUrl: database.url });
  tasks = new TaskRepository(db);
  ownerId = (await new UserRepository(db).create("owner")).id;
});
afterAll(async () => {
  await db.$disconnect();
  await drop();
});

describe("plain-SQL rows on the hot path", () => {
  it("match Prisma's rows field for field, at creation and after every hot-path write", async () => {
    const created = await tasks.create({
      id: newTaskId(),
      ownerId,
      model: "m",
      endpoint: "chat.completion",
      queueName: "llm_m_queue",
      messages: [{ role: "user", content: "it's \"quoted\" \\ and ünïcode" }],
      configs: { model: "m", max_tokens: 5, stop: ["\n"] },
    });
    expect(created).toEqual(await db.task.findUnique({ where: { id: created.id } }));

    const started = await tasks.startAttempt(created.id);
    expect(started).toEqual({
      attempt: 1,
      ownerId,
      model: "m",
      messages: created.messages,
      configs: created.configs,
      batchId: null,
      queueName: "llm_m_queue",
      webhook: null,
      apiKeyId: null,
      runTimeoutMs: null,
    });
    const choices = [{ index: 0, text: "par", finishReason: null, toolCalls: [] }];
    expect(await tasks.checkpoint(created.id, 1, { response: "par", percent: 40, completionTokens: 2, firstTokenAt: new Date(), choices })).toBe(true);
    expect(await tasks.findById(created.id)).toEqual(await db.task.findUnique({ where: { id: created.id } }));
    expect(await tasks.complete(created.id, 1, { response: "partial", percent: 100, completionTokens: 3, firstTokenAt: new Date(), choices, finishReason: "stop", promptTokens: 4 })).toBe(true);

    const prisma = await db.task.findUnique({ where: { id: created.id } });
    expect(prisma).toMatchObject({ status: "COMPLETED", percent: 100, response: "partial", promptTokens: 4, finishReason: "stop", choices });
    expect(await tasks.findById(created.id)).toEqual(prisma);
    expect(await tasks.findVisible(created.id, { userId: ownerId, isAdmin: false })).toEqual(prisma);
  });

  it("starts a tick's attempts in one statement, reading the request out only for the starts that need it", async () => {
    const rows = await Promise.all(
      [1, 2].map((n) =>
        tasks.create({ id: newTaskId(), ownerId, model: "m", endpoint: "task", queueName: "llm_m_queue", messages: [{ role: "user", content: `ask ${n}` }], configs: { model: "m", max_tokens: n } }),
      ),
    );
    const startedAt = new Date("2026-01-02T03:04:05.678Z");
    const started = await tasks.startAttempts([
      { id: rows[0]!.id, startedAt, withRequest: false },
      { id: rows[1]!.id, startedAt },
    ]);
    const byId = new Map(started.map((row) => [row.id, row]));
    expect(byId.get(rows[0]!.id)).toMatchObject({ attempt: 1, messages: null, configs: null });
    expect(byId.get(rows[1]!.id)).toMatchObject({ attempt: 1, messages: rows[1]!.messages, configs: rows[1]!.configs });
    for (const row of rows) expect(await tasks.findById(row.id)).toMatchObject({ status: "RUNNING", attempts: 1, startedAt, messages: row.messages });
  });

  it("shows a task to its owner and the admin only", async () => {
    const other = (await new UserRepository(db).create("other")).id;
    const task = await tasks.create({ id: newTaskId(), ownerId, model: "m", queueName: "q", messages: [], configs: {} });
    expect(await tasks.findVisible(task.id, { userId: other, isAdmin: false })).toBeNull();
    expect((await tasks.findVisible(task.id, { userId: other, isAdmin: true }))?.id).toBe(task.id);
    expect(await tasks.findById(newTaskId())).toBeNull();
  });

  it("inserts batch rows once, in order, skipping ids that exist", async () => {
    const batchId = `batch_${"a".repeat(32)}`;
    await db.batch.create({
      data: { id: batchId, ownerId, kind: "native", endpoint: "/v1/ai/text_completion", completionWindow: "24h", status: "validating", totalCount: 3, expiresAt: new Date(Date.now() + 60_000) },
    });
    const rows = [0, 1, 2].map((i) => ({ id: newTaskId(), ownerId, model: "m", queueName: "q", messages: [{ role: "user" as const, content: `n'${i}` }], configs: { i }, customId: `c${i}`, batchIndex: i }));
    expect(await tasks.createBatchTasks(batchId, rows)).toBe(3);
    expect(await tasks.createBatchTasks(batchId, rows)).toBe(0);
    const stored = await db.task.findMany({ where: { batchId }, orderBy: { batchIndex: "asc" } });
    expect(stored.map((t) => [t.id, t.customId, t.batchIndex, t.messages, t.configs, t.status])).toEqual(rows.map((r) => [r.id, r.customId, r.batchIndex, r.messages, r.configs, "PENDING"]));
  });

  it("resolve an API key to Prisma's key and user, with its user's live keys' limits added up, and a revoked or unknown key to nothing", async () => {
    const keys = new ApiKeyRepository(db);
    const { key, secret } = await keys.create(ownerId, "reader", { rateLimitPerMinute: 5, tokensPerDay: 0, maxOpenStreams: 3 });
    const { key: sibling } = await keys.create(ownerId, "sibling", { rateLimitPerMinute: 7 });
    const { key: revoked } = await keys.create(ownerId, "gone", { rateLimitPerMinute: 100 });
    await keys.revoke(revoked.id);
    const prisma = await db.apiKey.findUnique({ where: { id: key.id }, include: { user: true } });
    const others = await db.apiKey.count({ where: { userId: ownerId, revokedAt: null, id: { notIn: [key.id, sibling.id] } } });
    expect(await keys.findActiveBySecret(secret)).toEqual({
      ...prisma,
      userKeyTotals: {
        keys: others + 2,
        rateLimitPerMinute: { sum: 12, inheriting: others, unlimited: false },
        maxConcurrentTasks: { sum: 0, inheriting: others + 2, unlimited: false },
        tokensPerDay: { sum: 0, inheriting: others + 1, unlimited: true },
        maxOpenStreams: { sum: 3, inheriting: others + 1, unlimited: false },
      },
    });
    expect(await keys.findActiveBySecret(`${secret}x`)).toBeNull();
    expect(await keys.revoke(key.id)).toBe(true);
    expect(await keys.findActiveBySecret(secret)).toBeNull();
  });
  it("resolve a session's user to Prisma's user with its live keys' limits added up, alone and in the operator's list", async () => {
    const users = new UserRepository(db);
    const user = await users.create("session-user");
    const keys = new ApiKeyRepository(db);
    await keys.create(user.id, "a", { rateLimitPerMinute: 3, tokensPerDay: 100 });
    await keys.create(user.id, "b", { maxConcurrentTasks: 0 });
    const expected = {
      ...(await db.user.findUnique({ where: { id: user.id } })),
      keyTotals: {
        keys: 2,
        rateLimitPerMinute: { sum: 3, inheriting: 1, unlimited: false },
        maxConcurrentTasks: { sum: 0, inheriting: 1, unlimited: true },
        tokensPerDay: { sum: 100, inheriting: 1, unlimited: false },
        maxOpenStreams: { sum: 0, inheriting: 2, unlimited: false },
      },
    };
    expect(await users.findWithKeyTotals(user.id)).toEqual(expected);
    expect((await users.list()).find((row) => row.id === user.id)).toEqual(expected);
    expect(await users.findWithKeyTotals("00000000-0000-4000-8000-00000000dead")).toBeNull();
  });
});
