import { type ChatMessage, type Choice, type FinishReason, type PreparedTask, type StoredWebhook, type TaskStatus, canTransition, statusesLeadingTo } from "@llmq/core";
import { batchTaskId } from "./batch-task-id";
import { type Database, poolOf } from "./client";
import {
  type CompletionUpdate,
  type ProgressUpdate,
  type AttemptStart,
  type StartedAttempt,
  type StartedRow,
  insertBatchTasks,
  insertTask,
  insertTasks,
  selectTask,
  startAttempts,
  updateCompletedMany,
  updateProgressMany,
} from "./task-sql";
import { type HistoryCursor, encodeCursor } from "./cursor";
import { Prisma, type Task } from "./generated/prisma/client";

export type TaskRecord = Task;

export interface NewTask {
  id: string;
  ownerId: string;
  model: string;
  /** Which API created it (default `task`, the Flexstack dialect). */
  endpoint?: string;
  queueName: string;
  messages: ChatMessage[];
  configs: Record<string, unknown>;
  /** `{url, events, key_id}` when the caller asked for webhooks. */
  webhook?: StoredWebhook | null;
  /** The submitting API key (null: admin key or session), for per-key quotas. */
  apiKeyId?: string | null;
  /** Not started by then: EXPIRED. */
  expiresAt?: Date | null;
  runTimeoutMs?: number | null;
}

/** A new task that is one line of a batch. */
export type BatchTask = NewTask & { customId: string; batchIndex: number };

/** Who is asking: owners see their own tasks, the admin sees every task. */
export interface Viewer {
  userId: string;
  isAdmin: boolean;
}

export interface TaskProgress {
  response: string;
  percent: number;
  completionTokens: number;
  firstTokenAt: Date | null;
  choices: Choice[];
}

export interface TaskOutcome extends TaskProgress {
  finishReason: FinishReason;
  promptTokens: number | null;
}

/** What the engine's listeners need of a task whose state it changed, read back by the statement that changed it. */
export interface ChangedTask {
  id: string;
  attempts: number;
  ownerId: string;
  batchId: string | null;
  apiKeyId: string | null;
  queueName: string;
  webhook: unknown;
}

/** A task the queue deadline ended. */
export type ExpiredTask = ChangedTask;

/** The columns every statement that changes a task returns for the engine (see ChangedTask). */
const CHANGED_TASK_COLUMNS = Prisma.sql`task_id AS id, attempts, owner_id::text AS "ownerId", batch_id AS "batchId", api_key_id::text AS "apiKeyId", queue_name AS "queueName", webhook`;

export type { StartedAttempt };

export interface HistoryQuery {
  viewer: Viewer;
  /** Only this user's tasks (on top of what the viewer may see: another user's id gives a non-admin nothing). */
  ownerId?: string;
  status?: TaskStatus;
  model?: string;
  batchId?: string;
  createdFrom?: Date;
  createdTo?: Date;
  cursor?: HistoryCursor;
  limit: number;
}

/** Rows per INSERT (sent as arrays, so no bind-parameter limit): few round trips, bounded statements. */
const INSERT_CHUNK = 2_500;
/** Statements in flight at once: a few of the pool's connections, never all of them. */
const INSERT_PARALLEL = 3;

/**
 * Line `index` of a batch as a new task: its id is derived from the batch and line (see batchTaskId); it
 * carries the batch's owner and API key, so quotas see it.
 */
export function batchTaskOf(batch: { id: string; ownerId: string; apiKeyId: string | null }, line: { task: PreparedTask; customId: string }, index: number): BatchTask {
  const { task, customId } = line;
  return {
    id: batchTaskId(batch.id, index),
    ownerId: batch.ownerId,
    apiKeyId: batch.apiKeyId,
    model: task.model.id,
    endpoint: task.endpoint,
    queueName: task.model.queueName,
    messages: task.messages,
    configs: task.configs,
    customId,
    batchIndex: index,
  };
}

function asJson(choices: Choice[]): Prisma.InputJsonValue {
  return choices as unknown as Prisma.InputJsonValue;
}

/** Task rows and their conditional state changes. Every transition states the statuses it may leave. */
export class TaskRepository {
  constructor(private readonly db: Database) {}

  /** Inserts a PENDING task (before its job is enqueued: Postgres is the source of truth). */
  async create(task: NewTask): Promise<TaskRecord> {
    return insertTask(poolOf(this.db), task);
  }

  /** Inserts many PENDING tasks in one statement; their rows in input order. */
  async createMany(tasks: readonly NewTask[]): Promise<TaskRecord[]> {
    return insertTasks(poolOf(this.db), tasks);
  }

  /** Deletes PENDING tasks never acknowledged to their clients (their enqueue failed). */
  async withdrawMany(ids: readonly string[]): Promise<void> {
    await this.db.task.deleteMany({ where: { id: { in: [...ids] }, status: "PENDING", attempts: 0 } });
  }

  /**
   * Inserts a batch's tasks, INSERT_CHUNK rows per statement and INSERT_PARALLEL statements at a time (one
   * Postgres backend updates a chunk's indexes on one core); rows whose id exists are skipped, so an
   * ingest that crashed and runs again creates nothing twice (batch task ids derive from batch and line).
   */
  async createBatchTasks(batchId: string, tasks: readonly BatchTask[]): Promise<number> {
    const pool = poolOf(this.db);
    let next = 0;
    let inserted = 0;
    const lane = async () => {
      while (next < tasks.length) {
        const start = next;
        next += INSERT_CHUNK;
        inserted += await insertBatchTasks(pool, batchId, tasks.slice(start, start + INSERT_CHUNK));
      }
    };
    await Promise.all(Array.from({ length: INSERT_PARALLEL }, lane));
    return inserted;
  }

  /**
   * PENDING tasks of a batch -> `to` (CANCELLED or EXPIRED) in one statement; returns the tasks it closed.
   * Only queued items: running ones are cancelled one by one, with their upstream requests.
   */
  async closePendingOfBatch(batchId: string, to: "CANCELLED" | "EXPIRED"): Promise<ChangedTask[]> {
    if (!canTransition("PENDING", to)) throw new Error(`PENDING cannot become ${to}`);
    const finishReason = to === "CANCELLED" ? "cancelled" : null;
    return this.db.$queryRaw<ChangedTask[]>`
      UPDATE tasks SET status = ${to}::"TaskStatus", completed_at = now(), updated_at = now(), finish_reason = coalesce(${finishReason}, finish_reason)
       WHERE batch_id = ${batchId} AND status = 'PENDING'
   RETURNING ${CHANGED_TASK_COLUMNS}`;
  }

  /** True while some task of the batch may still run (PENDING or RUNNING: completed_at null, on tasks_open_idx). */
  async batchHasOpenTasks(batchId: string): Promise<boolean> {
    return (await this.db.task.findFirst({ where: { batchId, completedAt: null, status: { in: ["PENDING", "RUNNING"] } }, select: { id: true } })) !== null;
  }

  /** Ids of a batch's RUNNING tasks (to cancel them one by one, with their upstream requests). */
  async runningIdsOfBatch(batchId: string): Promise<string[]> {
    const rows = await this.db.task.findMany({ where: { batchId, completedAt: null, status: "RUNNING" }, select: { id: true } });
    return rows.map((row) => row.id);
  }

  /** A page of a batch's tasks in input order, after line `afterIndex`. */
  async batchPage(batchId: string, afterIndex: number, limit: number): Promise<TaskRecord[]> {
    return this.db.task.findMany({ where: { batchId, batchIndex: { gt: afterIndex } }, orderBy: { batchIndex: "asc" }, take: limit });
  }

  /** Deletes a PENDING task that was never acknowledged to its client (its enqueue failed). */
  async withdraw(id: string): Promise<void> {
    await this.db.task.deleteMany({ where: { id, status: "PENDING", attempts: 0 } });
  }

  /** The task if `viewer` may see it; null otherwise, so other tenants cannot learn it exists. */
  async findVisible(id: string, viewer: Viewer): Promise<TaskRecord | null> {
    return selectTask(poolOf(this.db), id, viewer.isAdmin ? null : viewer.userId);
  }

  /** The tasks with these ids, in no particular order (live task lists load a tick's changes at once). */
  async findByIds(ids: readonly string[]): Promise<TaskRecord[]> {
    if (ids.length === 0) return [];
    return this.db.task.findMany({ where: { id: { in: [...ids] } } });
  }

  /** The task by id, for workers. */
  async findById(id: string): Promise<TaskRecord | null> {
    return selectTask(poolOf(this.db), id, null);
  }

  /** One page of history, newest first, with the cursor of the next page. */
  async history(query: HistoryQuery): Promise<{ tasks: TaskRecord[]; nextCursor: string | null }> {
    const where: Prisma.TaskWhereInput = {
      ...(query.viewer.isAdmin ? {} : { ownerId: query.viewer.userId }),
      ...(query.ownerId ? { AND: [{ ownerId: query.ownerId }] } : {}),
      ...(query.status ? { status: query.status } : {}),
      ...(query.model ? { model: query.model } : {}),
      ...(query.batchId ? { batchId: query.batchId } : {}),
      ...(query.createdFrom || query.createdTo ? { createdAt: { gte: query.createdFrom, lt: query.createdTo } } : {}),
    };
    const after = query.cursor;
    const rows = await this.db.task.findMany({
      where: after
        ? { AND: [where, { OR: [{ createdAt: { lt: after.createdAt } }, { createdAt: after.createdAt, id: { lt: after.id } }] }] }
        : where,
      orderBy: [{ createdAt: "desc" }, { id: "desc" }],
      take: query.limit + 1,
    });
    const tasks = rows.slice(0, query.limit);
    const last = tasks[tasks.length - 1];
    return { tasks, nextCursor: rows.length > query.limit && last ? encodeCursor(last) : null };
  }

  /**
   * Starts a new attempt: PENDING or RUNNING (a crashed or retried attempt) -> RUNNING, attempts + 1.
   * Returns the attempt number, which fences every later write of this attempt; null if the task
   * may not run (cancelled, expired or already finished). The one-task form of startAttempts (the same
   * statement), for tools and tests: the engine starts a tick's attempts together.
   */
  async startAttempt(id: string): Promise<StartedAttempt | null> {
    const [row] = await this.startAttempts([{ id, startedAt: new Date() }]);
    if (!row) return null;
    const { id: _id, ...attempt } = row;
    return attempt;
  }

  /** startAttempt for many tasks in one statement, each with its worker's start time: the attempts that started (see StartedRow). */
  async startAttempts(starts: readonly AttemptStart[]): Promise<StartedRow[]> {
    return startAttempts(poolOf(this.db), starts, statusesLeadingTo("RUNNING"));
  }

  /** expireIfUnstarted for many tasks in one statement: those that expired. */
  async expireUnstarted(ids: readonly string[]): Promise<ExpiredTask[]> {
    return this.expireWhere(Prisma.sql`task_id = ANY(${ids}::text[])`);
  }

  /** checkpoint for many running attempts in one statement: the ids whose row was updated. */
  async checkpointMany(updates: readonly ProgressUpdate[]): Promise<Set<string>> {
    return updateProgressMany(poolOf(this.db), updates);
  }

  /** complete for many attempts in one statement: the ids whose row was updated. */
  async completeMany(updates: readonly CompletionUpdate[]): Promise<Set<string>> {
    return updateCompletedMany(poolOf(this.db), updates, statusesLeadingTo("COMPLETED"));
  }

  /** PENDING and never started, past its queue deadline -> EXPIRED. The expired task, or null if it was not due. */
  async expireIfUnstarted(id: string): Promise<ExpiredTask | null> {
    const rows = await this.expireWhere(Prisma.sql`task_id = ${id}`);
    return rows[0] ?? null;
  }

  /** Every task past its queue deadline that no worker started (a paused or unserved queue): the sweeper's round, `limit` at a time. */
  async expireOverdue(limit: number): Promise<ExpiredTask[]> {
    // `completed_at IS NULL` (implied by PENDING) lets the candidates come from tasks_queue_deadline_idx.
    return this.expireWhere(
      Prisma.sql`task_id IN (SELECT task_id FROM tasks WHERE completed_at IS NULL AND expires_at <= now() AND status = 'PENDING' AND attempts = 0 LIMIT ${limit})`,
    );
  }

  private expireWhere(match: Prisma.Sql): Promise<ExpiredTask[]> {
    return this.db.$queryRaw<ExpiredTask[]>`
      UPDATE tasks SET status = 'EXPIRED', completed_at = now(), updated_at = now(),
             error_code = 'queue_ttl_exceeded', error_message = 'No worker started the task before its queue deadline (queue_ttl_seconds).'
       WHERE ${match} AND status = ANY(${statusesLeadingTo("EXPIRED")}::"TaskStatus"[]) AND attempts = 0 AND expires_at <= now()
   RETURNING ${CHANGED_TASK_COLUMNS}`;
  }

  /**
   * Interactive tasks PENDING or RUNNING of a user, and of one of its keys (their concurrency quotas), in one
   * statement on `tasks_open_idx` (open = completed_at null, which the table's CHECK ties to those statuses).
   */
  async openTaskCounts(ownerId: string, apiKeyId: string | null): Promise<{ user: number; key: number }> {
    const { rows } = await poolOf(this.db).query<{ user: string; key: string }>({
      name: "llmq_open_task_counts",
      text: `SELECT count(*) AS "user", count(*) FILTER (WHERE api_key_id = $2::uuid) AS "key"
               FROM tasks WHERE batch_id IS NULL AND owner_id = $1::uuid AND completed_at IS NULL AND status IN ('PENDING', 'RUNNING')`,
      values: [ownerId, apiKeyId],
    });
    return { user: Number(rows[0]?.user ?? 0), key: Number(rows[0]?.key ?? 0) };
  }

  /** Saves progress of a running attempt. False when the attempt was fenced off or the task left RUNNING (checkpointMany's statement). */
  async checkpoint(id: string, attempt: number, progress: TaskProgress): Promise<boolean> {
    return (await this.checkpointMany([{ id, attempt, ...progress }])).has(id);
  }

  /** RUNNING -> COMPLETED for this attempt only. False if another attempt or a cancel got there first (completeMany's statement). */
  async complete(id: string, attempt: number, outcome: TaskOutcome): Promise<boolean> {
    return (await this.completeMany([{ id, attempt, completedAt: new Date(), ...outcome }])).has(id);
  }

  /** -> FAILED for this attempt only (or from PENDING when the job itself was lost for good). */
  async fail(id: string, attempt: number | null, error: { code: string; message: string }): Promise<boolean> {
    const { count } = await this.db.task.updateMany({
      where: { id, ...(attempt === null ? {} : { attempts: attempt }), status: { in: statusesLeadingTo("FAILED") } },
      data: { status: "FAILED", errorCode: error.code, errorMessage: error.message, completedAt: new Date() },
    });
    return count === 1;
  }

  /** RUNNING -> PENDING after a retryable failure: the job waits in the queue for its next attempt. */
  async releaseForRetry(id: string, attempt: number, error: { code: string; message: string }): Promise<boolean> {
    const { count } = await this.db.task.updateMany({
      where: { id, attempts: attempt, status: { in: statusesLeadingTo("PENDING") } },
      data: { status: "PENDING", errorCode: error.code, errorMessage: error.message },
    });
    return count === 1;
  }

  /** PENDING or RUNNING -> CANCELLED. Returns the status the task had, or null if it was already final. */
  async cancel(id: string): Promise<TaskStatus | null> {
    const rows = await this.db.$queryRaw<{ previous: TaskStatus }[]>`
      UPDATE tasks t
         SET status = 'CANCELLED', completed_at = now(), updated_at = now(), finish_reason = 'cancelled'
        FROM (SELECT task_id, status FROM tasks WHERE task_id = ${id} FOR UPDATE) AS before
       WHERE t.task_id = before.task_id AND before.status = ANY(${statusesLeadingTo("CANCELLED")}::"TaskStatus"[])
   RETURNING before.status AS previous`;
    return rows[0]?.previous ?? null;
  }

  /** Keeps what a cancelled attempt had generated (text and usage) once its worker has stopped. */
  async recordCancelledOutput(id: string, attempt: number, outcome: Omit<TaskOutcome, "finishReason">): Promise<boolean> {
    const { count } = await this.db.task.updateMany({
      where: { id, attempts: attempt, status: "CANCELLED" },
      data: { ...outcome, choices: asJson(outcome.choices) },
    });
    return count === 1;
  }

  /**
   * Unfinished tasks last touched before `before`, oldest first: the sweeper checks their jobs. Items of
   * a batch still validating are left out: their batch enqueues them once all its rows are in.
   */
  async findStale(before: Date, limit: number): Promise<Pick<TaskRecord, "id" | "ownerId" | "status" | "queueName" | "attempts" | "batchId" | "apiKeyId" | "webhook">[]> {
    return this.db.task.findMany({
      where: { completedAt: null, status: { in: ["PENDING", "RUNNING"] }, updatedAt: { lt: before }, OR: [{ batchId: null }, { batch: { status: { not: "validating" } } }] },
      select: { id: true, ownerId: true, status: true, queueName: true, attempts: true, batchId: true, apiKeyId: true, webhook: true },
      orderBy: { updatedAt: "asc" },
      take: limit,
    });
  }
}
