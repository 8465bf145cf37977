import type { Pool } from "pg";
import type { TaskStatus } from "@llmq/core";
import type { Task } from "./generated/prisma/client";
import { camelRow } from "./camel-row";

/**
 * The task statements on every request's or every job's path, in plain SQL over the pg pool: Prisma's
 * query compiler and row mapping cost about 2 ms of CPU per statement here, several times the query
 * itself (docs/performance.md). Rows come back in Prisma's shape (`Task`), so callers cannot tell.
 */

/** A `tasks` row (SELECT * / RETURNING *) as Prisma's `Task`: the schema maps `id` to `task_id`. */
function taskOf(row: Record<string, unknown>): Task {
  return camelRow(row, { task_id: "id" }) as Task;
}

/** Named statements: Postgres parses and plans each once per connection. */
const SELECT_BY_ID = "SELECT * FROM tasks WHERE task_id = $1";
const SELECT_OWNED = "SELECT * FROM tasks WHERE task_id = $1 AND owner_id = $2::uuid";
const INSERT = `INSERT INTO tasks (task_id, owner_id, model, endpoint, queue_name, messages, configs, webhook, api_key_id, expires_at, run_timeout_ms, updated_at)
  VALUES ($1, $2::uuid, $3, $4, $5, $6::jsonb, $7::jsonb, $8::jsonb, $9::uuid, $10, $11, now()) RETURNING *`;

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
}

export async function insertTask(pool: Pool, task: TaskInsert): Promise<Task> {
  const { rows } = await pool.query<Record<string, unknown>>({
    name: "llmq_task_insert",
    text: INSERT,
    values: [
      task.id,
      task.ownerId,
      task.model,
      task.endpoint ?? "task",
      task.queueName,
      JSON.stringify(task.messages),
      JSON.stringify(task.configs),
      task.webhook ? JSON.stringify(task.webhook) : null,
      task.apiKeyId ?? null,
      task.expiresAt ?? null,
      task.runTimeoutMs ?? null,
    ],
  });
  return taskOf(rows[0]!);
}

/**
 * Inserts many tasks in one statement (arrays unnested server-side) and returns their rows in input
 * order: the engine's group commit of one tick's submits.
 */
export async function insertTasks(pool: Pool, tasks: readonly TaskInsert[]): Promise<Task[]> {
  const { rows } = await pool.query<Record<string, unknown>>({
    name: "llmq_task_insert_many",
    text: `INSERT INTO tasks (task_id, owner_id, model, endpoint, queue_name, messages, configs, webhook, api_key_id, expires_at, run_timeout_ms, updated_at)
           SELECT id, owner, model, endpoint, queue, messages, configs, webhook, key, expires, timeout, now()
             FROM unnest($1::text[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::jsonb[], $7::jsonb[], $8::jsonb[], $9::uuid[], $10::timestamptz[], $11::int[])
                  AS t(id, owner, model, endpoint, queue, messages, configs, webhook, key, expires, timeout)
        RETURNING *`,
    values: [
      tasks.map((t) => t.id),
      tasks.map((t) => t.ownerId),
      tasks.map((t) => t.model),
      tasks.map((t) => t.endpoint ?? "task"),
      tasks.map((t) => t.queueName),
      tasks.map((t) => JSON.stringify(t.messages)),
      tasks.map((t) => JSON.stringify(t.configs)),
      tasks.map((t) => (t.webhook ? JSON.stringify(t.webhook) : null)),
      tasks.map((t) => t.apiKeyId ?? null),
      tasks.map((t) => t.expiresAt ?? null),
      tasks.map((t) => t.runTimeoutMs ?? null),
    ],
  });
  const byId = new Map(rows.map((row) => [row.task_id as string, taskOf(row)]));
  return tasks.map((t) => {
    const row = byId.get(t.id);
    if (!row) throw new Error(`task ${t.id} was not inserted`);
    return row;
  });
}

/** What a worker needs to run an attempt; `attempt` fences every later write of it. */
export interface StartedAttempt {
  attempt: number;
  ownerId: string;
  batchId: string | null;
  queueName: string;
  model: string;
  /** The request, unless the start said the worker has it already (its job carries a copy): then null. */
  messages: unknown;
  configs: unknown;
  webhook: unknown;
  apiKeyId: string | null;
  runTimeoutMs: number | null;
}

/** One attempt to start: `withRequest` false when the worker has the request already (the job's copy). */
export interface AttemptStart {
  id: string;
  startedAt: Date;
  withRequest?: boolean;
}

/** What a started attempt returns (see TaskRepository.startAttempts), with the task's id. */
export interface StartedRow extends StartedAttempt {
  id: string;
}

/**
 * Starts new attempts of many tasks in one statement: PENDING or RUNNING (`from`) -> RUNNING, attempts + 1,
 * the text of any earlier attempt cleared; a task never started and past its queue deadline is left for
 * expiry. Returns the rows that started (a task missing was final, cancelled, or is to expire).
 */
export async function startAttempts(pool: Pool, starts: readonly AttemptStart[], from: readonly TaskStatus[]): Promise<StartedRow[]> {
  const { rows } = await pool.query<StartedRow>({
    name: "llmq_task_start_attempts",
    text: `UPDATE tasks AS t
              SET status = 'RUNNING', attempts = t.attempts + 1, started_at = v.started_at, first_token_at = NULL,
                  response = '', choices = NULL, percent = 0, completion_tokens = 0, finish_reason = NULL, updated_at = now()
             FROM unnest($1::text[], $2::timestamptz[], $4::boolean[]) AS v(id, started_at, with_request)
            WHERE t.task_id = v.id AND t.status = ANY($3::"TaskStatus"[])
              AND NOT (t.status = 'PENDING' AND t.attempts = 0 AND coalesce(t.expires_at <= now(), false))
        RETURNING t.task_id AS id, t.attempts AS attempt, t.owner_id::text AS "ownerId", t.model,
                  CASE WHEN v.with_request THEN t.messages END AS messages, CASE WHEN v.with_request THEN t.configs END AS configs, t.webhook, t.batch_id AS "batchId",
                  t.queue_name AS "queueName", t.api_key_id::text AS "apiKeyId", t.run_timeout_ms AS "runTimeoutMs"`,
    values: [starts.map((start) => start.id), starts.map((start) => start.startedAt), from, starts.map((start) => start.withRequest ?? true)],
  });
  return rows;
}

/** One running attempt's progress, for updateProgressMany. */
export interface ProgressUpdate extends ProgressColumns {
  id: string;
  attempt: number;
}

/** Saves progress of many running attempts in one statement, each fenced by its attempt; the ids updated. */
export async function updateProgressMany(pool: Pool, updates: readonly ProgressUpdate[]): Promise<Set<string>> {
  const { rows } = await pool.query<{ id: string }>({
    name: "llmq_task_checkpoint_many",
    text: `UPDATE tasks AS t
              SET response = v.response, percent = v.percent, completion_tokens = v.tokens, first_token_at = v.first_token_at, choices = v.choices, updated_at = now()
             FROM unnest($1::text[], $2::int[], $3::text[], $4::int[], $5::int[], $6::timestamptz[], $7::jsonb[])
                  AS v(id, attempt, response, percent, tokens, first_token_at, choices)
            WHERE t.task_id = v.id AND t.attempts = v.attempt AND t.status = 'RUNNING'
        RETURNING t.task_id AS id`,
    values: [
      updates.map((u) => u.id),
      updates.map((u) => u.attempt),
      updates.map((u) => u.response),
      updates.map((u) => u.percent),
      updates.map((u) => u.completionTokens),
      updates.map((u) => u.firstTokenAt),
      updates.map((u) => JSON.stringify(u.choices)),
    ],
  });
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
}

/** -> COMPLETED for many attempts in one statement, each only from `from` and for its attempt; the ids updated. */
export async function updateCompletedMany(pool: Pool, updates: readonly CompletionUpdate[], from: readonly TaskStatus[]): Promise<Set<string>> {
  const { rows } = await pool.query<{ id: string }>({
    name: "llmq_task_complete_many",
    text: `UPDATE tasks AS t
              SET status = 'COMPLETED', percent = 100, response = v.response, completion_tokens = v.tokens, first_token_at = v.first_token_at,
                  choices = v.choices, prompt_tokens = v.prompt_tokens, finish_reason = v.finish_reason, completed_at = v.completed_at,
                  error_code = NULL, error_message = NULL, updated_at = now()
             FROM unnest($1::text[], $2::int[], $3::text[], $4::int[], $5::timestamptz[], $6::jsonb[], $7::int[], $8::text[], $10::timestamptz[])
                  AS v(id, attempt, response, tokens, first_token_at, choices, prompt_tokens, finish_reason, completed_at)
            WHERE t.task_id = v.id AND t.attempts = v.attempt AND t.status = ANY($9::"TaskStatus"[])
        RETURNING t.task_id AS id`,
    values: [
      updates.map((u) => u.id),
      updates.map((u) => u.attempt),
      updates.map((u) => u.response),
      updates.map((u) => u.completionTokens),
      updates.map((u) => u.firstTokenAt),
      updates.map((u) => JSON.stringify(u.choices)),
      updates.map((u) => u.promptTokens),
      updates.map((u) => u.finishReason),
      from,
      updates.map((u) => u.completedAt),
    ],
  });
  return new Set(rows.map((row) => row.id));
}

/** The task by id, or only if `ownerId` owns it. */
export async function selectTask(pool: Pool, id: string, ownerId: string | null): Promise<Task | null> {
  const { rows } =
    ownerId === null
      ? await pool.query<Record<string, unknown>>({ name: "llmq_task_by_id", text: SELECT_BY_ID, values: [id] })
      : await pool.query<Record<string, unknown>>({ name: "llmq_task_owned", text: SELECT_OWNED, values: [id, ownerId] });
  return rows[0] ? taskOf(rows[0]) : null;
}

export interface ProgressColumns {
  response: string;
  percent: number;
  completionTokens: number;
  firstTokenAt: Date | null;
  choices: unknown;
}


export interface BatchTaskInsert extends TaskInsert {
  customId: string;
  batchIndex: number;
}

/**
 * Inserts a batch's tasks in one statement (arrays unnested server-side); rows whose id exists are
 * skipped. Returns how many were inserted. Prisma's createMany spent most of a 50,000-item batch here.
 */
export async function insertBatchTasks(pool: Pool, batchId: string, tasks: readonly BatchTaskInsert[]): Promise<number> {
  const { rowCount } = await pool.query({
    text: `INSERT INTO tasks (task_id, owner_id, model, endpoint, queue_name, messages, configs, batch_id, custom_id, batch_index, api_key_id, updated_at)
           SELECT id, owner, model, endpoint, queue, messages, configs, $8, custom, idx, key, now()
             FROM unnest($1::text[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::jsonb[], $7::jsonb[], $9::text[], $10::int[], $11::uuid[])
                  AS t(id, owner, model, endpoint, queue, messages, configs, custom, idx, key)
           ON CONFLICT (task_id) DO NOTHING`,
    values: [
      tasks.map((t) => t.id),
      tasks.map((t) => t.ownerId),
      tasks.map((t) => t.model),
      tasks.map((t) => t.endpoint ?? "task"),
      tasks.map((t) => t.queueName),
      tasks.map((t) => JSON.stringify(t.messages)),
      tasks.map((t) => JSON.stringify(t.configs)),
      batchId,
      tasks.map((t) => t.customId),
      tasks.map((t) => t.batchIndex),
      tasks.map((t) => t.apiKeyId ?? null),
    ],
  });
  return rowCount ?? 0;
}
