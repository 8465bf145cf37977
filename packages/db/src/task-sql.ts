import type { Pool } from "pg";
import type { TaskStatus } from "@llmq/core";
import { sql } from "kysely";
import type { Task as TaskTable } from "./generated/kysely/database";
import { type RowOf, kysely, lit, prepare } from "./kysely";

/**
 * The statements on `tasks`, written with Kysely over the table's generated type (see kysely.ts): every
 * column is checked by tsc and every row comes back in the shape the query gives it, named in camelCase
 * by the query itself. Prisma's query compiler and row mapping cost about 2 ms of CPU per statement here,
 * several times the query itself (docs/performance.md); these run on the pg pool under it.
 */

/** A task as the services see it: every column of `tasks`, in the schema's field names. */
export const TASK_COLUMNS = [
  "task_id as id",
  "owner_id as ownerId",
  "model",
  "endpoint",
  "queue_name as queueName",
  "messages",
  "configs",
  "status",
  "percent",
  "response",
  "choices",
  "finish_reason as finishReason",
  "prompt_tokens as promptTokens",
  "completion_tokens as completionTokens",
  "error_code as errorCode",
  "error_message as errorMessage",
  "attempts",
  "created_at as createdAt",
  "started_at as startedAt",
  "first_token_at as firstTokenAt",
  "completed_at as completedAt",
  "updated_at as updatedAt",
  "batch_id as batchId",
  "custom_id as customId",
  "batch_index as batchIndex",
  "webhook",
  "api_key_id as apiKeyId",
  "expires_at as expiresAt",
  "run_timeout_ms as runTimeoutMs",
  "service_tier as tier",
  "upstream",
  "served_model as servedModel",
  "final_status as finalStatus",
] as const;

type ListedColumn<C> = C extends `${infer Column} as ${string}` ? Column : C;
type UnlistedColumn<Table> = Exclude<keyof Table, ListedColumn<(typeof TASK_COLUMNS)[number]>>;

/** `true` when TASK_COLUMNS lists every column of `Table` (the generated type of `tasks`); otherwise the columns it misses. */
export type EveryColumnListed<Table> = [UnlistedColumn<Table>] extends [never] ? true : { missing: UnlistedColumn<Table> };

// A column added to prisma/schema.prisma reaches the generated type with `prisma generate`, and tsc fails
// here until the column is listed (test/typed-sql.test.ts).
const everyColumnListed: EveryColumnListed<TaskTable> = true;
void everyColumnListed;

const selectTaskById = prepare("llmq_task_by_id", (p: { id: string }) => kysely.selectFrom("tasks").select(TASK_COLUMNS).where("task_id", "=", p.id));

/** One task row (see TASK_COLUMNS). */
export type TaskRow = RowOf<typeof selectTaskById>;

const selectOwnedTask = prepare("llmq_task_owned", (p: { id: string; ownerId: string }) =>
  kysely.selectFrom("tasks").select(TASK_COLUMNS).where("task_id", "=", p.id).where("owner_id", "=", p.ownerId),
);

/**
 * A task's columns less its request (`messages`, `configs`, which never change after the insert): what the
 * completion returns, so the row as committed can be announced to the task's waiters (see FinishedTask).
 */
export const FINISHED_COLUMNS = TASK_COLUMNS.filter((column): column is Exclude<(typeof TASK_COLUMNS)[number], "messages" | "configs"> => column !== "messages" && column !== "configs");

/** The columns every statement that changes a task returns for the engine's listeners (see ChangedTask). */
export const CHANGED_TASK_COLUMNS = ["task_id as id", "attempts", "owner_id as ownerId", "batch_id as batchId", "api_key_id as apiKeyId", "queue_name as queueName", "webhook"] as const;

export interface TaskInsert {
  id: string;
  ownerId: string;
  model: string;
  endpoint?: string;
  queueName: string;
  messages: unknown;
  configs: unknown;
  webhook?: unknown;
  apiKeyId?: string | null;
  expiresAt?: Date | null;
  runTimeoutMs?: number | null;
  /** ServiceTier; absent: `default`. */
  tier?: string;
}

const insertOne = prepare(
  "llmq_task_insert",
  (p: {
    id: string;
    ownerId: string;
    model: string;
    endpoint: string;
    queueName: string;
    messages: string;
    configs: string;
    webhook: string | null;
    apiKeyId: string | null;
    expiresAt: Date | null;
    runTimeoutMs: number | null;
    tier: string;
  }) =>
    kysely
      .insertInto("tasks")
      .values({
        task_id: p.id,
        owner_id: p.ownerId,
        model: p.model,
        endpoint: p.endpoint,
        queue_name: p.queueName,
        messages: sql`${p.messages}::jsonb`,
        configs: sql`${p.configs}::jsonb`,
        webhook: sql`${p.webhook}::jsonb`,
        api_key_id: p.apiKeyId,
        expires_at: p.expiresAt,
        run_timeout_ms: p.runTimeoutMs,
        service_tier: p.tier,
        updated_at: sql`now()`,
      })
      .returning(TASK_COLUMNS),
);

export async function insertTask(pool: Pool, task: TaskInsert): Promise<TaskRow> {
  const [row] = await insertOne.rows(pool, {
    id: task.id,
    ownerId: task.ownerId,
    model: task.model,
    endpoint: task.endpoint ?? "task",
    queueName: task.queueName,
    messages: JSON.stringify(task.messages),
    configs: JSON.stringify(task.configs),
    webhook: task.webhook ? JSON.stringify(task.webhook) : null,
    apiKeyId: task.apiKeyId ?? null,
    expiresAt: task.expiresAt ?? null,
    runTimeoutMs: task.runTimeoutMs ?? null,
    tier: task.tier ?? "default",
  });
  if (!row) throw new Error(`task ${task.id} was not inserted`);
  return row;
}

/** Column arrays, one element per row: unnested server-side, so a statement's text never depends on how many rows it has. */
interface InsertArrays {
  ids: string[];
  owners: string[];
  models: string[];
  endpoints: string[];
  queues: string[];
  messages: string[];
  configs: string[];
  keys: (string | null)[];
  tiers: string[];
}

const INSERT_COLUMNS = ["task_id", "owner_id", "model", "endpoint", "queue_name", "messages", "configs", "api_key_id", "service_tier"] as const;

function unnestedInsert(p: InsertArrays) {
  return sql`unnest(${p.ids}::text[], ${p.owners}::uuid[], ${p.models}::text[], ${p.endpoints}::text[], ${p.queues}::text[], ${p.messages}::jsonb[], ${p.configs}::jsonb[], ${p.keys}::uuid[], ${p.tiers}::text[]`;
}

function insertArrays(tasks: readonly TaskInsert[]): InsertArrays {
  return {
    ids: tasks.map((t) => t.id),
    owners: tasks.map((t) => t.ownerId),
    models: tasks.map((t) => t.model),
    endpoints: tasks.map((t) => t.endpoint ?? "task"),
    queues: tasks.map((t) => t.queueName),
    messages: tasks.map((t) => JSON.stringify(t.messages)),
    configs: tasks.map((t) => JSON.stringify(t.configs)),
    keys: tasks.map((t) => t.apiKeyId ?? null),
    tiers: tasks.map((t) => t.tier ?? "default"),
  };
}

const insertMany = prepare("llmq_task_insert_many", (p: InsertArrays & { webhooks: (string | null)[]; expires: (Date | null)[]; timeouts: (number | null)[] }) =>
  kysely
    .insertInto("tasks")
    .columns([...INSERT_COLUMNS, "webhook", "expires_at", "run_timeout_ms", "updated_at"])
    .expression(
      sql`SELECT id, owner, model, endpoint, queue, messages, configs, key, tier, webhook, expires, timeout, now()
            FROM ${unnestedInsert(p)}, ${p.webhooks}::jsonb[], ${p.expires}::timestamptz[], ${p.timeouts}::int[])
                 AS t(id, owner, model, endpoint, queue, messages, configs, key, tier, webhook, expires, timeout)`,
    )
    .returning(TASK_COLUMNS),
);

/**
 * Inserts many tasks in one statement (arrays unnested server-side) and returns their rows in input
 * order: the engine's group commit of one tick's submits.
 */
export async function insertTasks(pool: Pool, tasks: readonly TaskInsert[]): Promise<TaskRow[]> {
  const rows = await insertMany.rows(pool, {
    ...insertArrays(tasks),
    webhooks: tasks.map((t) => (t.webhook ? JSON.stringify(t.webhook) : null)),
    expires: tasks.map((t) => t.expiresAt ?? null),
    timeouts: tasks.map((t) => t.runTimeoutMs ?? null),
  });
  const byId = new Map(rows.map((row) => [row.id, row]));
  return tasks.map((t) => {
    const row = byId.get(t.id);
    if (!row) throw new Error(`task ${t.id} was not inserted`);
    return row;
  });
}

export interface BatchTaskInsert extends TaskInsert {
  customId: string;
  batchIndex: number;
}

const insertBatch = prepare("llmq_task_insert_batch", (p: InsertArrays & { batchId: string; customIds: string[]; indexes: number[] }) =>
  kysely
    .insertInto("tasks")
    .columns([...INSERT_COLUMNS, "batch_id", "custom_id", "batch_index", "updated_at"])
    .expression(
      sql`SELECT id, owner, model, endpoint, queue, messages, configs, key, tier, ${p.batchId}, custom, idx, now()
            FROM ${unnestedInsert(p)}, ${p.customIds}::text[], ${p.indexes}::int[])
                 AS t(id, owner, model, endpoint, queue, messages, configs, key, tier, custom, idx)`,
    )
    .onConflict((conflict) => conflict.column("task_id").doNothing()),
);

/**
 * Inserts a batch's tasks in one statement (arrays unnested server-side); rows whose id exists are
 * skipped. Returns how many were inserted. Prisma's createMany spent most of a 50,000-item batch here.
 */
export async function insertBatchTasks(pool: Pool, batchId: string, tasks: readonly BatchTaskInsert[]): Promise<number> {
  return insertBatch.count(pool, { ...insertArrays(tasks), batchId, customIds: tasks.map((t) => t.customId), indexes: tasks.map((t) => t.batchIndex) });
}

/** One attempt to start: `withRequest` false when the worker has the request already (the job's copy). */
export interface AttemptStart {
  id: string;
  startedAt: Date;
  withRequest?: boolean;
}

const startMany = prepare("llmq_task_start_attempts", (p: { ids: string[]; startedAts: Date[]; withRequest: boolean[]; from: readonly TaskStatus[] }) =>
  kysely
    .updateTable("tasks as t")
    .from(
      sql<{ id: string; started_at: Date; with_request: boolean }>`unnest(${p.ids}::text[], ${p.startedAts}::timestamptz[], ${p.withRequest}::boolean[])`.as<"v">(
        sql`v(id, started_at, with_request)`,
      ),
    )
    .set((eb) => ({
      status: lit("RUNNING"),
      attempts: eb("t.attempts", "+", lit(1)),
      started_at: eb.ref("v.started_at"),
      first_token_at: lit(null),
      response: lit(""),
      choices: lit(null),
      percent: lit(0),
      completion_tokens: lit(0),
      finish_reason: lit(null),
      updated_at: sql`now()`,
    }))
    .whereRef("t.task_id", "=", "v.id")
    .where(sql<boolean>`t.status = ANY(${p.from}::"TaskStatus"[])`)
    // A task never started and past its queue deadline is left for expiry.
    .where(sql<boolean>`NOT (t.status = 'PENDING' AND t.attempts = 0 AND coalesce(t.expires_at <= now(), false))`)
    .returning((eb) => [
      "t.task_id as id",
      "t.attempts as attempt",
      "t.owner_id as ownerId",
      "t.model",
      // The request, unless the start said the worker has it already (its job carries a copy): then null.
      eb.case().when("v.with_request", "=", lit(true)).then(eb.ref("t.messages")).end().as("messages"),
      eb.case().when("v.with_request", "=", lit(true)).then(eb.ref("t.configs")).end().as("configs"),
      "t.webhook",
      "t.batch_id as batchId",
      "t.queue_name as queueName",
      "t.api_key_id as apiKeyId",
      "t.run_timeout_ms as runTimeoutMs",
    ]),
);

/** What a started attempt returns (see TaskRepository.startAttempts), with the task's id; `attempt` fences every later write of it. */
export type StartedRow = RowOf<typeof startMany>;

/** What a worker needs to run an attempt. */
export type StartedAttempt = Omit<StartedRow, "id">;

/**
 * Starts new attempts of many tasks in one statement: PENDING or RUNNING (`from`) -> RUNNING, attempts + 1,
 * the text of any earlier attempt cleared; a task never started and past its queue deadline is left for
 * expiry. Returns the rows that started (a task missing was final, cancelled, or is to expire).
 */
export async function startAttempts(pool: Pool, starts: readonly AttemptStart[], from: readonly TaskStatus[]): Promise<StartedRow[]> {
  return startMany.rows(pool, {
    ids: starts.map((start) => start.id),
    startedAts: starts.map((start) => start.startedAt),
    withRequest: starts.map((start) => start.withRequest ?? true),
    from,
  });
}

export interface ProgressColumns {
  response: string;
  percent: number;
  completionTokens: number;
  firstTokenAt: Date | null;
  choices: unknown;
}

/** One running attempt's progress, for updateProgressMany. */
export interface ProgressUpdate extends ProgressColumns {
  id: string;
  attempt: number;
}

interface ProgressArrays {
  ids: string[];
  attempts: number[];
  responses: string[];
  tokens: number[];
  firstTokenAts: (Date | null)[];
  choices: string[];
}

function progressArrays(updates: readonly ProgressUpdate[]): ProgressArrays {
  return {
    ids: updates.map((u) => u.id),
    attempts: updates.map((u) => u.attempt),
    responses: updates.map((u) => u.response),
    tokens: updates.map((u) => u.completionTokens),
    firstTokenAts: updates.map((u) => u.firstTokenAt),
    choices: updates.map((u) => JSON.stringify(u.choices)),
  };
}

const checkpointMany = prepare("llmq_task_checkpoint_many", (p: ProgressArrays & { percents: number[] }) =>
  kysely
    .updateTable("tasks as t")
    .from(
      sql<{ id: string; attempt: number; response: string; percent: number; tokens: number; first_token_at: Date | null; choices: unknown }>`unnest(
        ${p.ids}::text[], ${p.attempts}::int[], ${p.responses}::text[], ${p.percents}::int[], ${p.tokens}::int[], ${p.firstTokenAts}::timestamptz[], ${p.choices}::jsonb[])`.as<"v">(
        sql`v(id, attempt, response, percent, tokens, first_token_at, choices)`,
      ),
    )
    .set((eb) => ({
      response: eb.ref("v.response"),
      percent: eb.ref("v.percent"),
      completion_tokens: eb.ref("v.tokens"),
      first_token_at: eb.ref("v.first_token_at"),
      choices: eb.ref("v.choices"),
      updated_at: sql`now()`,
    }))
    .whereRef("t.task_id", "=", "v.id")
    .whereRef("t.attempts", "=", "v.attempt")
    .where("t.status", "=", lit("RUNNING"))
    .returning("t.task_id as id"),
);

/** Saves progress of many running attempts in one statement, each fenced by its attempt; the ids updated. */
export async function updateProgressMany(pool: Pool, updates: readonly ProgressUpdate[]): Promise<Set<string>> {
  const rows = await checkpointMany.rows(pool, { ...progressArrays(updates), percents: updates.map((u) => u.percent) });
  return new Set(rows.map((row) => row.id));
}

/** One attempt's outcome, for updateCompletedMany. */
export interface CompletionUpdate extends ProgressColumns {
  id: string;
  attempt: number;
  promptTokens: number | null;
  finishReason: string;
  /** The worker's clock, as the attempt's start and first token are. */
  completedAt: Date;
  /** The upstream that served choice 0 and the model it served as (null: not known, the row keeps what it had). */
  upstream?: string | null;
  servedModel?: string | null;
}

const completeMany = prepare(
  "llmq_task_complete_many",
  (p: ProgressArrays & {
    promptTokens: (number | null)[];
    finishReasons: string[];
    completedAts: Date[];
    upstreams: (string | null)[];
    servedModels: (string | null)[];
    from: readonly TaskStatus[];
  }) =>
    kysely
      .updateTable("tasks as t")
      .from(
        sql<{
          id: string;
          attempt: number;
          response: string;
          tokens: number;
          first_token_at: Date | null;
          choices: unknown;
          prompt_tokens: number | null;
          finish_reason: string;
          completed_at: Date;
          upstream: string | null;
          served_model: string | null;
        }>`unnest(${p.ids}::text[], ${p.attempts}::int[], ${p.responses}::text[], ${p.tokens}::int[], ${p.firstTokenAts}::timestamptz[], ${p.choices}::jsonb[],
                  ${p.promptTokens}::int[], ${p.finishReasons}::text[], ${p.completedAts}::timestamptz[], ${p.upstreams}::text[], ${p.servedModels}::text[])`.as<"v">(
          sql`v(id, attempt, response, tokens, first_token_at, choices, prompt_tokens, finish_reason, completed_at, upstream, served_model)`,
        ),
      )
      .set((eb) => ({
        status: lit("COMPLETED"),
        percent: lit(100),
        response: eb.ref("v.response"),
        completion_tokens: eb.ref("v.tokens"),
        first_token_at: eb.ref("v.first_token_at"),
        choices: eb.ref("v.choices"),
        prompt_tokens: eb.ref("v.prompt_tokens"),
        finish_reason: eb.ref("v.finish_reason"),
        completed_at: eb.ref("v.completed_at"),
        upstream: sql`coalesce(v.upstream, t.upstream)`,
        served_model: sql`coalesce(v.served_model, t.served_model)`,
        error_code: lit(null),
        error_message: lit(null),
        updated_at: sql`now()`,
      }))
      .whereRef("t.task_id", "=", "v.id")
      .whereRef("t.attempts", "=", "v.attempt")
      .where(sql<boolean>`t.status = ANY(${p.from}::"TaskStatus"[])`)
      .returning(FINISHED_COLUMNS.map((column) => `t.${column}` as `t.${typeof column}`)),
);

/** A completed task's row as its completion committed it, less its request (see FINISHED_COLUMNS). */
export type FinishedRow = RowOf<typeof completeMany>;

/**
 * -> COMPLETED for many attempts in one statement, each only from `from` and for its attempt; the rows
 * updated (less their request), by id.
 */
export async function updateCompletedMany(pool: Pool, updates: readonly CompletionUpdate[], from: readonly TaskStatus[]): Promise<Map<string, FinishedRow>> {
  const rows = await completeMany.rows(pool, {
    ...progressArrays(updates),
    promptTokens: updates.map((u) => u.promptTokens),
    finishReasons: updates.map((u) => u.finishReason),
    completedAts: updates.map((u) => u.completedAt),
    upstreams: updates.map((u) => u.upstream ?? null),
    servedModels: updates.map((u) => u.servedModel ?? null),
    from,
  });
  return new Map(rows.map((row) => [row.id, row]));
}

/** The task by id, or only if `ownerId` owns it. */
export async function selectTask(pool: Pool, id: string, ownerId: string | null): Promise<TaskRow | null> {
  const [row] = ownerId === null ? await selectTaskById.rows(pool, { id }) : await selectOwnedTask.rows(pool, { id, ownerId });
  return row ?? null;
}
