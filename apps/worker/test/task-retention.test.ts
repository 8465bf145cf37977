// Data that does not grow forever (issue 17): the worker's sweeper deletes finished tasks older than
// TASK_RETENTION_DAYS (by their end time) with their events, webhook deliveries and idempotency keys,
// ended batches with their tasks (so their generated output and error files), and uploaded files older
// than FILE_RETENTION_DAYS; nothing younger, nothing unfinished, nothing of an open batch, no file an open
// batch reads; 0 keeps everything; a round is bounded; /metrics counts it. End times are moved back in
// SQL: nobody waits for days.
import { randomUUID } from "node:crypto";
import type { RunningWorker } from "@llmq/worker";
import { loadWorkerEnv, sweepRetention } from "@llmq/worker";
import { ADMIN_USER_ID, RetentionRepository } from "@llmq/db";
import { type TestStack, startTestStack } from "@llmq/stack";
import { eventually, json } from "@llmq/testkit";
import OpenAI, { toFile } from "openai";

const FAST = "gemma-7b";
// Served by no worker: its tasks stay queued.
const PARKED = "parked-model";

let stack: TestStack;
let client: OpenAI;
/** Sweeps with TASK_RETENTION_DAYS=1, FILE_RETENTION_DAYS=1, RESPONSE_RETENTION_HOURS=72, and serves its metrics. */
let keeper: RunningWorker;

beforeAll(async () => {
  stack = await startTestStack({
    worker: false,
    models: {
      providers: { fast: { type: "simulated", first_token_ms: 5, tokens_per_second: 2000 } },
      models: [
        { id: FAST, provider: "fast", concurrency: 4 },
        { id: PARKED, provider: "fast", concurrency: 1 },
      ],
    },
    // Sweeper rounds only when the test asks for one.
    // FILE_RETENTION_DAYS for the API, which says it in each file's expires_at.
    env: { SWEEP_INTERVAL_MS: "3600000", WORKER_MODELS: FAST, FILE_RETENTION_DAYS: "1" },
  });
  keeper = await stack.startWorker({ TASK_RETENTION_DAYS: "1", FILE_RETENTION_DAYS: "1", RESPONSE_RETENTION_HOURS: "72", WORKER_METRICS_PORT: "0" });
  client = new OpenAI({ baseURL: `${stack.url}/v1`, apiKey: stack.adminKey, maxRetries: 0 });
});
afterAll(async () => {
  await stack?.close();
});

const sql = () => stack.api.deps.db;

/** Moves a task's life back: created `hours` + 1 minute ago and, when it has ended, ended `hours` ago. */
async function ageTask(taskId: string, hours: number): Promise<void> {
  await sql().$executeRaw`UPDATE tasks SET created_at = now() - ${hours}::int * interval '1 hour' - interval '1 minute',
      completed_at = CASE WHEN completed_at IS NULL THEN NULL ELSE now() - ${hours}::int * interval '1 hour' END
    WHERE task_id = ${taskId}`;
}

/** Moves a batch's life back (every stamp it has), its tasks with it unless `tasksHours` says otherwise. */
async function ageBatch(batchId: string, hours: number, tasksHours = hours): Promise<void> {
  await sql().$executeRaw`UPDATE batches SET created_at = now() - ${hours}::int * interval '1 hour' - interval '1 minute',
      in_progress_at = CASE WHEN in_progress_at IS NULL THEN NULL ELSE now() - ${hours}::int * interval '1 hour' - interval '1 minute' END,
      finalizing_at = CASE WHEN finalizing_at IS NULL THEN NULL ELSE now() - ${hours}::int * interval '1 hour' END,
      completed_at = CASE WHEN completed_at IS NULL THEN NULL ELSE now() - ${hours}::int * interval '1 hour' END,
      failed_at = CASE WHEN failed_at IS NULL THEN NULL ELSE now() - ${hours}::int * interval '1 hour' END,
      expired_at = CASE WHEN expired_at IS NULL THEN NULL ELSE now() - ${hours}::int * interval '1 hour' END,
      cancelled_at = CASE WHEN cancelled_at IS NULL THEN NULL ELSE now() - ${hours}::int * interval '1 hour' END
    WHERE id = ${batchId}`;
  await sql().$executeRaw`UPDATE tasks SET created_at = now() - ${tasksHours}::int * interval '1 hour' - interval '1 minute',
      completed_at = CASE WHEN completed_at IS NULL THEN NULL ELSE now() - ${tasksHours}::int * interval '1 hour' END
    WHERE batch_id = ${batchId}`;
}

async function ageFile(fileId: string, hours: number): Promise<void> {
  await sql().$executeRaw`UPDATE files SET created_at = now() - ${hours}::int * interval '1 hour' WHERE id = ${fileId}`;
}

async function count(query: Promise<{ n: bigint }[]>): Promise<number> {
  const [row] = await query;
  return Number(row?.n ?? 0);
}
const tasksLeft = (ids: string[]) => count(sql().$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM tasks WHERE task_id = ANY(${ids}::text[])`);
const batchesLeft = (ids: string[]) => count(sql().$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM batches WHERE id = ANY(${ids}::text[])`);
const filesLeft = (ids: string[]) => count(sql().$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM files WHERE id = ANY(${ids}::text[])`);
const chunksLeft = (ids: string[]) => count(sql().$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM file_chunks WHERE file_id = ANY(${ids}::text[])`);
const keysLeft = (ids: string[]) => count(sql().$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM idempotency_keys WHERE resource_id = ANY(${ids}::text[])`);
const deliveriesLeft = (ids: string[]) =>
  count(sql().$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM webhook_deliveries WHERE task_id = ANY(${ids}::text[]) OR batch_id = ANY(${ids}::text[])`);
const attemptsLeft = (deliveryIds: string[]) => count(sql().$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM webhook_attempts WHERE delivery_id = ANY(${deliveryIds}::text[])`);

/** A delivery and one attempt of it, as the webhook worker writes them, for a task or a batch. */
async function deliveryFor(owner: { taskId?: string; batchId?: string }): Promise<string> {
  const id = `msg_${randomUUID().replaceAll("-", "")}`;
  await sql().$executeRaw`INSERT INTO webhook_deliveries (id, owner_id, task_id, batch_id, event_type, url, payload, status, attempt_count, delivered_at)
    VALUES (${id}, ${ADMIN_USER_ID}::uuid, ${owner.taskId ?? null}, ${owner.batchId ?? null}, 'task.completed', 'https://hooks.example.com/x', '{}'::jsonb, 'succeeded', 1, now())`;
  await sql().$executeRaw`INSERT INTO webhook_attempts (delivery_id, attempt, started_at, duration_ms, status_code) VALUES (${id}, 1, now(), 12, 200)`;
  return id;
}

/** Moves a queued task to a final status as the engine would have (its end time set). */
async function endAs(taskId: string, status: "FAILED" | "EXPIRED"): Promise<void> {
  await sql().$executeRaw`UPDATE tasks SET status = ${status}::"TaskStatus", completed_at = now(), error_code = 'test', error_message = 'ended by the test' WHERE task_id = ${taskId}`;
}

const chat = (model: string, content: string) => ({ messages: [{ role: "user", content }], configs: { model, max_tokens: 8 } });

async function submit(model: string, content: string, idempotencyKey?: string): Promise<string> {
  const res = await stack.request("/v1/ai/text_completion?async=true", { method: "POST", json: chat(model, content), headers: idempotencyKey ? { "Idempotency-Key": idempotencyKey } : {} });
  expect(res.status).toBe(202);
  return (await json(res)).data.data.task_id as string;
}

async function nativeBatch(requests: { model: string; content: string }[], idempotencyKey?: string): Promise<{ batchId: string; taskIds: string[] }> {
  const res = await stack.request("/v1/ai/batches", {
    method: "POST",
    json: { requests: requests.map((r, index) => ({ custom_id: `r${index}`, ...chat(r.model, r.content) })) },
    headers: idempotencyKey ? { "Idempotency-Key": idempotencyKey } : {},
  });
  expect(res.status).toBe(200);
  const body = (await json(res)).data.data;
  return { batchId: body.batch_id, taskIds: body.task_ids };
}

async function batchStatus(batchId: string): Promise<string> {
  return (await json(await stack.request(`/v1/ai/batches/${batchId}`))).data.data.status;
}

async function upload(text: string): Promise<string> {
  return (await client.files.create({ file: await toFile(Buffer.from(text), "in.jsonl"), purpose: "batch" })).id;
}

async function metric(kind: string): Promise<number> {
  const text = await (await fetch(keeper.metricsUrl!)).text();
  const line = text.split("\n").find((entry) => entry.startsWith(`llmq_retention_deleted_total{kind="${kind}"} `));
  return line ? Number(line.split(" ")[1]) : 0;
}

describe("TASK_RETENTION_DAYS and FILE_RETENTION_DAYS", () => {
  it("are 30 days unless set; 0 keeps everything; anything but whole days is refused", () => {
    const base = { DATABASE_URL: "postgresql://localhost/x", REDIS_URL: "redis://localhost:6379" };
    const env = loadWorkerEnv(base);
    expect([env.TASK_RETENTION_DAYS, env.FILE_RETENTION_DAYS]).toEqual([30, 30]);
    expect(loadWorkerEnv({ ...base, TASK_RETENTION_DAYS: "0", FILE_RETENTION_DAYS: "0" })).toMatchObject({ TASK_RETENTION_DAYS: 0, FILE_RETENTION_DAYS: 0 });
    expect(loadWorkerEnv({ ...base, TASK_RETENTION_DAYS: "7", FILE_RETENTION_DAYS: "365" })).toMatchObject({ TASK_RETENTION_DAYS: 7, FILE_RETENTION_DAYS: 365 });
    for (const name of ["TASK_RETENTION_DAYS", "FILE_RETENTION_DAYS"]) {
      for (const bad of ["-1", "1.5", "a week", "", "36501", "7d"]) expect(() => loadWorkerEnv({ ...base, [name]: bad })).toThrow(new RegExp(name));
    }
  });
});

describe("the sweeper and data past its retention", () => {
  it("deletes exactly the finished tasks, ended batches and files past their retention, with what hangs off them; 0 keeps everything", async () => {
    // Finished standalone tasks past the retention, in each final status, with an idempotency key and a webhook delivery.
    const completed = await submit(FAST, "an old answer", `old-${randomUUID()}`);
    const cancelled = await submit(PARKED, "cancelled long ago");
    expect((await stack.request(`/v1/ai/tasks/${cancelled}/cancel`, { method: "POST" })).status).toBe(200);
    const failed = await submit(PARKED, "failed long ago");
    const expired = await submit(PARKED, "expired long ago");
    await stack.finalTask(completed);
    await endAs(failed, "FAILED");
    await endAs(expired, "EXPIRED");
    const delivery = await deliveryFor({ taskId: completed });
    // Kept: a finished task inside its retention, and unfinished ones older than it.
    const young = await submit(FAST, "a recent answer");
    await stack.finalTask(young);
    const pending = await submit(PARKED, "queued for weeks");
    const running = await submit(PARKED, "running for weeks");
    await sql().$executeRaw`UPDATE tasks SET status = 'RUNNING', attempts = 1, started_at = now() WHERE task_id = ${running}`;
    // Responses: their content's own retention (72 h here) comes first; the task goes once it is erased.
    const oldResponse = await client.responses.create({ model: FAST, input: "an old response", background: true });
    const keptResponse = await client.responses.create({ model: FAST, input: "a response in its retention", background: true });
    const responseTask = (id: string) => id.slice("resp_".length);
    await stack.finalTask(responseTask(oldResponse.id));
    await stack.finalTask(responseTask(keptResponse.id));

    // Batches: an ended one past the retention (its tasks, deliveries, key, result files go); an ended
    // one inside it whose items are old (kept: items go with their batch); an open one with a finished old item.
    const ended = await nativeBatch([{ model: FAST, content: "one" }, { model: FAST, content: "two" }], `batch-${randomUUID()}`);
    const endedYoung = await nativeBatch([{ model: FAST, content: "three" }]);
    const open = await nativeBatch([{ model: FAST, content: "four" }, { model: PARKED, content: "five" }]);
    for (const id of [ended.batchId, endedYoung.batchId]) await eventually(async () => ((await batchStatus(id)) === "completed" ? true : undefined), { what: `${id} to complete` });
    await stack.finalTask(open.taskIds[0]!);
    expect(await batchStatus(open.batchId)).toBe("in_progress");
    const batchDelivery = await deliveryFor({ batchId: ended.batchId });

    // Files: an old upload (goes), a young one, and an old one an open OpenAI batch reads (both kept).
    const line = (content: string) => JSON.stringify({ custom_id: content, method: "POST", url: "/v1/chat/completions", body: { model: PARKED, messages: [{ role: "user", content }] } });
    const oldFile = await upload(`${line("old file")}\n`);
    const youngFile = await upload(`${line("young file")}\n`);
    const readFile = await upload(`${line("read by an open batch")}\n`);
    const reading = await client.batches.create({ input_file_id: readFile, endpoint: "/v1/chat/completions", completion_window: "24h" });
    await eventually(async () => ((await client.batches.retrieve(reading.id)).status === "in_progress" ? true : undefined), { what: "the OpenAI batch to start" });

    const day = 24;
    for (const id of [completed, cancelled, failed, expired, pending, running]) await ageTask(id, 2 * day);
    await ageTask(young, day - 1);
    await ageTask(responseTask(oldResponse.id), 4 * day);
    await ageTask(responseTask(keptResponse.id), 2 * day);
    await ageBatch(ended.batchId, 2 * day);
    await ageBatch(endedYoung.batchId, day - 1, 2 * day);
    await ageBatch(open.batchId, 2 * day);
    await ageBatch(reading.id, 2 * day);
    for (const id of [oldFile, readFile]) await ageFile(id, 2 * day);
    await ageFile(youngFile, day - 1);

    const gone = [completed, cancelled, failed, expired, responseTask(oldResponse.id), ...ended.taskIds];
    const kept = [young, pending, running, responseTask(keptResponse.id), ...endedYoung.taskIds, ...open.taskIds];
    const keptBatches = [endedYoung.batchId, open.batchId, reading.id];
    // The old task's events are still in Redis (their hour has not passed here): deleting it drops them.
    expect((await stack.api.deps.log.readAfter(completed, "0")).length).toBeGreaterThan(0);
    expect(await keysLeft([completed, ended.batchId])).toBe(2);
    expect(await deliveriesLeft([completed, ended.batchId])).toBe(2);

    // 0 keeps everything.
    const keepAll = await stack.startWorker({ TASK_RETENTION_DAYS: "0", FILE_RETENTION_DAYS: "0" });
    try {
      const round = await keepAll.sweep();
      expect(round.deleted).toEqual({ tasks: 0, batches: 0, files: 0, deliveries: 0, idempotency_keys: 0 });
    } finally {
      await keepAll.close();
    }
    expect(await tasksLeft([...gone, ...kept])).toBe(gone.length + kept.length);
    expect(await filesLeft([oldFile, youngFile, readFile])).toBe(3);
    // Their idempotency keys are as old as they are (honoured 24 hours, then deleted: never younger than a retention).
    await sql().$executeRaw`UPDATE idempotency_keys SET created_at = now() - interval '2 days' WHERE resource_id = ANY(${[completed, ended.batchId]}::text[])`;

    const round = await keeper.sweep();

    expect(round.deleted).toEqual({ tasks: gone.length, batches: 1, files: 1, deliveries: 2, idempotency_keys: 2 });
    expect(await tasksLeft(gone)).toBe(0);
    expect(await tasksLeft(kept)).toBe(kept.length);
    expect(await batchesLeft([ended.batchId])).toBe(0);
    expect(await batchesLeft(keptBatches)).toBe(keptBatches.length);
    expect(await keysLeft([completed, ended.batchId])).toBe(0);
    expect(await deliveriesLeft([completed, ended.batchId])).toBe(0);
    expect(await attemptsLeft([delivery, batchDelivery])).toBe(0);
    expect(await stack.api.deps.log.readAfter(completed, "0")).toEqual([]);
    expect(await filesLeft([oldFile])).toBe(0);
    expect(await chunksLeft([oldFile])).toBe(0);
    expect(await filesLeft([youngFile, readFile])).toBe(2);
    // Unfinished ones stay as they were.
    expect((await stack.api.deps.tasks.findById(pending))?.status).toBe("PENDING");
    expect((await stack.api.deps.tasks.findById(running))?.status).toBe("RUNNING");

    // Through the API: gone in both dialects and from every route that named them; what is kept still answers.
    const flexGone = await stack.request(`/v1/ai/tasks/${completed}`);
    expect(flexGone.status).toBe(404);
    expect((await json(flexGone)).errors[0]).toMatchObject({ code: "task_not_found" });
    expect((await stack.request(`/v1/ai/batches/${ended.batchId}`)).status).toBe(404);
    expect((await stack.request(`/v1/ai/tasks/${young}`)).status).toBe(200);
    expect((await client.responses.retrieve(keptResponse.id)).output_text.length).toBeGreaterThan(0);
    await expect(client.responses.retrieve(oldResponse.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    await expect(client.files.retrieve(oldFile)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    const keptFile = await client.files.retrieve(youngFile);
    // Its expiry as the file object tells it: a day (FILE_RETENTION_DAYS) after its upload.
    expect(keptFile.expires_at).toBe(keptFile.created_at + 86_400);
    const history = (await json(await stack.request("/v1/ai/tasks?limit=100"))).data.data.tasks as { task_id: string }[];
    expect(history.map((task) => task.task_id)).toEqual(expect.not.arrayContaining(gone));
    expect(history.map((task) => task.task_id)).toEqual(expect.arrayContaining([young, pending]));

    // Counted on the worker's /metrics; the next round finds nothing more.
    expect([await metric("tasks"), await metric("batches"), await metric("files"), await metric("deliveries"), await metric("idempotency_keys")]).toEqual([gone.length, 1, 1, 2, 2]);
    expect((await fetch(keeper.metricsUrl!).then((res) => res.text())).match(/^llmq_retention_round_duration_seconds_count (\d+)/m)?.[1]).toBe("1");
    expect((await keeper.sweep()).deleted).toEqual({ tasks: 0, batches: 0, files: 0, deliveries: 0, idempotency_keys: 0 });
    expect(await metric("tasks")).toBe(gone.length);
  });

  it("is bounded: a round with more candidates than its budget deletes at most its budget, and the next rounds finish", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 12; i++) ids.push(await submit(PARKED, `backlog ${i}`));
    for (const id of ids) expect((await stack.request(`/v1/ai/tasks/${id}/cancel`, { method: "POST" })).status).toBe(200);
    for (const id of ids) await ageTask(id, 48);
    const counted: Record<string, number> = {};
    const deps = {
      retention: new RetentionRepository(stack.api.deps.db),
      events: stack.api.deps.log,
      metrics: { retentionDeleted: (kind: string, n: number) => void (counted[kind] = (counted[kind] ?? 0) + n), retentionRound: () => undefined },
      logger: keeper.logger,
    };
    // 5 rows a statement, 2 statements a round: at most 10 tasks a round.
    const policy = { taskDays: 1, fileDays: 1, rowsPerStatement: 5, statementsPerRound: 2 };
    const rounds = [];
    for (let i = 0; i < 3; i++) {
      rounds.push((await sweepRetention(deps, policy)).tasks);
      if (i === 0) expect(await tasksLeft(ids)).toBe(2);
    }
    expect(rounds).toEqual([10, 2, 0]);
    expect(await tasksLeft(ids)).toBe(0);
    expect(counted).toEqual({ tasks: 12 });
  });

  it("answers 404, never a 500, in both dialects to clients polling a task while it is deleted", async () => {
    const flexId = await submit(FAST, "polled while deleted");
    const queued = await client.chat.completions.create({ model: FAST, messages: [{ role: "user", content: "polled too" }], max_tokens: 8 }, { headers: { Prefer: "respond-async" } });
    const openaiId = queued.id.slice("chatcmpl-".length);
    await stack.finalTask(flexId);
    await stack.finalTask(openaiId);
    await ageTask(flexId, 48);
    await ageTask(openaiId, 48);

    const paths = { flex: [`/v1/ai/tasks/${flexId}`, `/v1/ai/tasks/${flexId}/events`], openai: [`/v1/chat/completions/${queued.id}`] };
    const statuses = { flex: new Set<number>(), openai: new Set<number>() };
    const get = async (dialect: "flex" | "openai", path: string) => {
      const res = await stack.request(path);
      statuses[dialect].add(res.status);
      await res.arrayBuffer();
    };
    // Seen before the sweep, then polled without pause while it runs, then once after it.
    for (const [dialect, list] of Object.entries(paths) as ["flex" | "openai", string[]][]) for (const path of list) await get(dialect, path);
    let sweeping = true;
    const pollers = (Object.entries(paths) as ["flex" | "openai", string[]][]).flatMap(([dialect, list]) =>
      list.map(async (path) => {
        while (sweeping) await get(dialect, path);
      }),
    );
    const round = await keeper.sweep();
    sweeping = false;
    await Promise.all(pollers);
    expect(round.deleted.tasks).toBe(2);

    const flex = await stack.request(`/v1/ai/tasks/${flexId}`);
    expect(flex.status).toBe(404);
    expect(await json(flex)).toMatchObject({ status: "error", data: null, errors: [{ code: "task_not_found", param: "task_id" }] });
    expect((await stack.request(`/v1/ai/tasks/${flexId}/events`)).status).toBe(404);
    const openai = await stack.request(`/v1/chat/completions/${queued.id}`);
    expect(openai.status).toBe(404);
    expect((await json(openai)).error).toMatchObject({ type: "invalid_request_error" });
    // Every answer while it went was the task or a 404: nothing else (no 500).
    expect([...statuses.flex].every((status) => status === 200 || status === 404)).toBe(true);
    expect([...statuses.openai].every((status) => status === 200 || status === 404)).toBe(true);
    expect(statuses.flex.has(200) && statuses.openai.has(200)).toBe(true);
  });

  it("skips the rows another transaction holds instead of waiting for them, and two sweepers at once delete each row once", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 9; i++) ids.push(await submit(PARKED, `held ${i}`));
    for (const id of ids) expect((await stack.request(`/v1/ai/tasks/${id}/cancel`, { method: "POST" })).status).toBe(200);
    for (const id of ids) await ageTask(id, 48);
    const deps = {
      retention: new RetentionRepository(stack.api.deps.db),
      events: stack.api.deps.log,
      metrics: { retentionDeleted: () => undefined, retentionRound: () => undefined },
      logger: keeper.logger,
    };
    const policy = { taskDays: 1, fileDays: 1, rowsPerStatement: 2, statementsPerRound: 100 };
    const [held] = ids;
    // A request holds one row (as a cancel's SELECT ... FOR UPDATE would) while a round runs: the round
    // ends without it (it would never end if it waited: the lock is released only after it returns).
    const whileHeld = await stack.api.deps.db.$transaction(async (tx) => {
      await tx.$queryRaw`SELECT task_id FROM tasks WHERE task_id = ${held} FOR UPDATE`;
      return sweepRetention(deps, policy);
    });
    expect(whileHeld.tasks).toBe(ids.length - 1);
    expect(await tasksLeft([held!])).toBe(1);
    expect(await tasksLeft(ids)).toBe(1);

    // Two sweepers racing over the same backlog: every row deleted exactly once between them.
    const more: string[] = [];
    for (let i = 0; i < 9; i++) more.push(await submit(PARKED, `raced ${i}`));
    for (const id of more) expect((await stack.request(`/v1/ai/tasks/${id}/cancel`, { method: "POST" })).status).toBe(200);
    for (const id of more) await ageTask(id, 48);
    const [a, b] = await Promise.all([sweepRetention(deps, policy), sweepRetention(deps, policy)]);
    expect(a.tasks + b.tasks).toBe(more.length + 1);
    expect(await tasksLeft([...ids, ...more])).toBe(0);
  });

  it("keeps an ended batch's tasks until its token reservation is settled against them (the sweeper settles first)", async () => {
    const batch = await nativeBatch([{ model: FAST, content: "to settle" }]);
    await eventually(async () => ((await batchStatus(batch.batchId)) === "completed" ? true : undefined), { what: "the batch to complete" });
    await ageBatch(batch.batchId, 48);
    // As if its process died between the end and the settlement.
    await sql().$executeRaw`UPDATE batches SET reserved_tokens = 100, reserved_at = now() - interval '2 days', settled_at = NULL WHERE id = ${batch.batchId}`;
    const deps = {
      retention: new RetentionRepository(stack.api.deps.db),
      events: stack.api.deps.log,
      metrics: { retentionDeleted: () => undefined, retentionRound: () => undefined },
      logger: keeper.logger,
    };
    expect(await sweepRetention(deps, { taskDays: 1, fileDays: 0 })).toMatchObject({ tasks: 0, batches: 0 });
    expect(await tasksLeft(batch.taskIds)).toBe(1);
    // A whole sweep settles it, then deletes it.
    expect((await keeper.sweep()).deleted).toMatchObject({ tasks: 1, batches: 1 });
    expect(await batchesLeft([batch.batchId])).toBe(0);
  });

  it("never stacks sweeper rounds: a tick that finds the last round still running is skipped", async () => {
    // A worker sweeping every 100 ms, and a table its round reads locked for 1.5 s: without the guard
    // each tick would start another round that queues behind the lock on a connection of its own.
    const busy = await stack.startWorker({ SWEEP_INTERVAL_MS: "100" });
    try {
      const waiting = await stack.api.deps.db.$transaction(
        async (tx) => {
          await tx.$executeRaw`LOCK TABLE idempotency_keys IN ACCESS EXCLUSIVE MODE`;
          await new Promise((resolve) => setTimeout(resolve, 1_500));
          const [row] = await tx.$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM pg_stat_activity
            WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%idempotency_keys%'`;
          return Number(row?.n ?? 0);
        },
        { timeout: 10_000 },
      );
      expect(waiting).toBe(1);
    } finally {
      await busy.close();
    }
  });
});
