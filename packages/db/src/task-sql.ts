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

/** A running attempt's progress, fenced by attempt and status; true when the row was updated. */
export async function updateProgress(pool: Pool, id: string, attempt: number, progress: ProgressColumns): Promise<boolean> {
  const { rowCount } = await pool.query({
    name: "llmq_task_checkpoint",
    text: `UPDATE tasks SET response = $3, percent = $4, completion_tokens = $5, first_token_at = $6, choices = $7::jsonb, updated_at = now()
            WHERE task_id = $1 AND attempts = $2 AND status = 'RUNNING'`,
    values: [id, attempt, progress.response, progress.percent, progress.completionTokens, progress.firstTokenAt, JSON.stringify(progress.choices)],
  });
  return rowCount === 1;
}

/** -> COMPLETED with the attempt's outcome, only from `from` and for this attempt; true when the row was updated. */
export async function updateCompleted(
  pool: Pool,
  id: string,
  attempt: number,
  from: readonly TaskStatus[],
  outcome: ProgressColumns & { promptTokens: number | null; finishReason: string },
  completedAt: Date,
): Promise<boolean> {
  const { rowCount } = await pool.query({
    name: "llmq_task_complete",
    text: `UPDATE tasks SET status = 'COMPLETED', percent = 100, response = $4, completion_tokens = $5, first_token_at = $6, choices = $7::jsonb,
                   prompt_tokens = $8, finish_reason = $9, completed_at = $10, error_code = NULL, error_message = NULL, updated_at = now()
            WHERE task_id = $1 AND attempts = $2 AND status = ANY($3::"TaskStatus"[])`,
    values: [id, attempt, from, outcome.response, outcome.completionTokens, outcome.firstTokenAt, JSON.stringify(outcome.choices), outcome.promptTokens, outcome.finishReason, completedAt],
  });
  return rowCount === 1;
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
