import { type ChatMessage, type Choice, type FinishReason, type PreparedTask, type ServiceTier, type StoredWebhook, type TaskStatus, canTransition, isFinal, statusesLeadingTo } from "@llmq/core";
import { type UpdateObject, sql } from "kysely";
import type { Pool } from "pg";
import { batchTaskId } from "./batch-task-id";
import { type Database, poolOf } from "./client";
import type { DB } from "./generated/kysely/database";
import { type RowOf, kysely, lit, prepare, run } from "./kysely";
import {
  type CompletionUpdate,
  type ProgressUpdate,
  type AttemptStart,
  type StartedAttempt,
  type StartedRow,
  type TaskRow,
  CHANGED_TASK_COLUMNS,
  TASK_COLUMNS,
  insertBatchTasks,
  insertTask,
  insertTasks,
  selectTask,
  startAttempts,
  updateCompletedMany,
  updateProgressMany,
} from "./task-sql";
import { type HistoryCursor, encodeCursor } from "./cursor";
import type { FinishedTask } from "./finished-task";

/** A task row: every column, in the schema's field names (TASK_COLUMNS). */
export type TaskRecord = TaskRow;

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
  /** Its place inside its tenant's line; absent: `default` (batch items: `flex`, see batchTaskOf). */
  tier?: ServiceTier;
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

export interface TaskOutcome extends TaskProgress, Partial<ServedBy> {
  finishReason: FinishReason;
  promptTokens: number | null;
}

/** What served an attempt: the upstream of its choice 0's last request, and the model it served as. */
export interface ServedBy {
  upstream: string | null;
  servedModel: string | null;
}

const expireByIds = prepare("llmq_task_expire_unstarted", (p: { ids: readonly string[] }) => expiring().where(sql<boolean>`task_id = ANY(${p.ids}::text[])`));

/** What the engine's listeners need of a task whose state it changed, read back by the statement that changed it (CHANGED_TASK_COLUMNS). */
export type ChangedTask = RowOf<typeof expireByIds>;

/** A task the queue deadline ended. */
export type ExpiredTask = ChangedTask;

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
 * carries the batch's owner and API key, so quotas see it, and the tier its line asked for (else `flex`).
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
    // Batch work yields to interactive work of the same tenant unless the line asks otherwise.
    tier: task.tier ?? "flex",
    customId,
    batchIndex: index,
  };
}

/** PENDING and never started, past its queue deadline -> EXPIRED, for the tasks a `where` adds (hoisted: statements above use it). */
function expiring() {
  return kysely
    .updateTable("tasks")
    .set({
      status: lit("EXPIRED"),
      completed_at: sql`now()`,
      updated_at: sql`now()`,
      error_code: lit("queue_ttl_exceeded"),
      error_message: lit("No worker started the task before its queue deadline (queue_ttl_seconds)."),
    })
    .where(sql<boolean>`status = ANY(${statusesLeadingTo("EXPIRED")}::"TaskStatus"[])`)
    .where("attempts", "=", lit(0))
    .where(sql<boolean>`expires_at <= now()`)
    .returning(CHANGED_TASK_COLUMNS);
}

const expireById = prepare("llmq_task_expire_one", (p: { id: string }) => expiring().where("task_id", "=", p.id));

// The sweeper's round; `completed_at IS NULL` (implied by PENDING) lets the candidates come from tasks_queue_deadline_idx.
const expireDue = prepare("llmq_task_expire_overdue", (p: { limit: number }) =>
  expiring().where(
    "task_id",
    "in",
    kysely
      .selectFrom("tasks")
      .select("task_id")
      .where("completed_at", "is", null)
      .where(sql<boolean>`expires_at <= now()`)
      .where("status", "=", lit("PENDING"))
      .where("attempts", "=", lit(0))
      .limit(p.limit),
  ),
);

/** Unacknowledged tasks (their enqueue failed): only while PENDING and never started. */
const withdrawByIds = prepare("llmq_task_withdraw", (p: { ids: readonly string[] }) =>
  kysely
    .deleteFrom("tasks")
    .where(sql<boolean>`task_id = ANY(${p.ids}::text[])`)
    .where("status", "=", lit("PENDING"))
    .where("attempts", "=", lit(0)),
);

const closePending = prepare("llmq_task_close_pending_of_batch", (p: { batchId: string; to: "CANCELLED" | "EXPIRED"; finishReason: string | null }) =>
  kysely
    .updateTable("tasks")
    .set({
      status: sql`${p.to}::"TaskStatus"`,
      completed_at: sql`now()`,
      updated_at: sql`now()`,
      finish_reason: sql`coalesce(${p.finishReason}::text, finish_reason)`,
    })
    .where("batch_id", "=", p.batchId)
    .where("status", "=", lit("PENDING"))
    .returning(CHANGED_TASK_COLUMNS),
);

// Open = completed_at null (the table's CHECK ties it to PENDING and RUNNING): on tasks_open_idx.
const openOfBatch = prepare("llmq_task_open_of_batch", (p: { batchId: string }) =>
  kysely
    .selectFrom("tasks")
    .select("task_id as id")
    .where("batch_id", "=", p.batchId)
    .where("completed_at", "is", null)
    .where("status", "in", [lit("PENDING"), lit("RUNNING")])
    .limit(lit(1)),
);

const runningOfBatch = prepare("llmq_task_running_of_batch", (p: { batchId: string }) =>
  kysely.selectFrom("tasks").select("task_id as id").where("batch_id", "=", p.batchId).where("completed_at", "is", null).where("status", "=", lit("RUNNING")),
);

const pageOfBatch = prepare("llmq_task_batch_page", (p: { batchId: string; afterIndex: number; limit: number }) =>
  kysely.selectFrom("tasks").select(TASK_COLUMNS).where("batch_id", "=", p.batchId).where("batch_index", ">", p.afterIndex).orderBy("batch_index", "asc").limit(p.limit),
);

const selectByIds = prepare("llmq_task_by_ids", (p: { ids: readonly string[] }) => kysely.selectFrom("tasks").select(TASK_COLUMNS).where(sql<boolean>`task_id = ANY(${p.ids}::text[])`));

const openCounts = prepare("llmq_open_task_counts", (p: { ownerId: string; apiKeyId: string | null }) =>
  kysely
    .selectFrom("tasks")
    .select((eb) => [eb.fn.countAll<string>().as("user"), eb.fn.countAll<string>().filterWhere("api_key_id", "=", p.apiKeyId).as("key")])
    .where("batch_id", "is", null)
    .where("owner_id", "=", p.ownerId)
    .where("completed_at", "is", null)
    .where("status", "in", [lit("PENDING"), lit("RUNNING")]),
);

const failOne = prepare(
  "llmq_task_fail",
  (p: { id: string; attempt: number | null; code: string; message: string; completedAt: Date; upstream: string | null; servedModel: string | null; from: readonly TaskStatus[] }) =>
  kysely
    .updateTable("tasks")
    .set({
      status: lit("FAILED"),
      error_code: p.code,
      error_message: p.message,
      completed_at: p.completedAt,
      // Unknown (null): the row keeps what an earlier attempt recorded.
      upstream: sql`coalesce(${p.upstream}::text, upstream)`,
      served_model: sql`coalesce(${p.servedModel}::text, served_model)`,
      updated_at: sql`now()`,
    })
    .where("task_id", "=", p.id)
    // null: any attempt (the job itself was lost for good).
    .where(sql<boolean>`(${p.attempt}::int IS NULL OR attempts = ${p.attempt}::int)`)
    .where(sql<boolean>`status = ANY(${p.from}::"TaskStatus"[])`),
);

const releaseOne = prepare("llmq_task_release_for_retry", (p: { id: string; attempt: number; code: string; message: string; from: readonly TaskStatus[] }) =>
  kysely
    .updateTable("tasks")
    .set({ status: lit("PENDING"), error_code: p.code, error_message: p.message, updated_at: sql`now()` })
    .where("task_id", "=", p.id)
    .where("attempts", "=", p.attempt)
    .where(sql<boolean>`status = ANY(${p.from}::"TaskStatus"[])`),
);

/**
 * RUNNING -> PENDING for an attempt that never reached an upstream able to serve it (every one paused
 * or open): the attempt is taken back (attempts - 1, and a task back at 0 is unstarted again, so its
 * queue deadline still expires it). Its error stays as it was: nothing failed.
 */
const releaseUnstartedOne = prepare("llmq_task_release_unserved", (p: { id: string; attempt: number }) =>
  kysely
    .updateTable("tasks")
    .set({
      status: lit("PENDING"),
      attempts: sql`attempts - 1`,
      started_at: sql`CASE WHEN attempts = 1 THEN NULL ELSE started_at END`,
      first_token_at: lit(null),
      updated_at: sql`now()`,
    })
    .where("task_id", "=", p.id)
    .where("attempts", "=", p.attempt)
    .where("status", "=", lit("RUNNING")),
);

const cancelOne = prepare("llmq_task_cancel", (p: { id: string; from: readonly TaskStatus[] }) =>
  kysely
    .updateTable("tasks as t")
    .from(kysely.selectFrom("tasks").select(["task_id", "status"]).where("task_id", "=", p.id).forUpdate().as("before"))
    .set({ status: lit("CANCELLED"), completed_at: sql`now()`, updated_at: sql`now()`, finish_reason: lit("cancelled") })
    .whereRef("t.task_id", "=", "before.task_id")
    .where(sql<boolean>`before.status = ANY(${p.from}::"TaskStatus"[])`)
    .returning("before.status as previous"),
);

/** A Responses API task whose content was erased (`DELETE /v1/responses/{id}`, or `store: false` once answered). */
export const ERASED = sql<boolean>`coalesce(configs #>> '{responses,erased}' = 'true', false)`;

const recordCancelled = prepare(
  "llmq_task_record_cancelled_output",
  (p: { id: string; attempt: number; response: string; percent: number; completionTokens: number; firstTokenAt: Date | null; choices: string; promptTokens: number | null }) =>
    kysely
      .updateTable("tasks")
      .set({
        // A response erased meanwhile (deleted while it ran) keeps its usage, not its text.
        response: sql`CASE WHEN ${ERASED} THEN '' ELSE ${p.response}::text END`,
        percent: p.percent,
        completion_tokens: p.completionTokens,
        first_token_at: p.firstTokenAt,
        choices: sql`CASE WHEN ${ERASED} THEN NULL ELSE ${p.choices}::jsonb END`,
        prompt_tokens: p.promptTokens,
        updated_at: sql`now()`,
      })
      .where("task_id", "=", p.id)
      .where("attempts", "=", p.attempt)
      .where("status", "=", lit("CANCELLED")),
);

/**
 * What erasing a finished Responses API task's content sets: its messages, text, choices, and what its
 * configs keep of the request (instructions, metadata, tools, passthrough) go, leaving the accounting
 * (owner, key, model, status, tokens, times) and a mark `configs.responses.erased` that makes the response
 * unknown to its API. One definition for DELETE / `store: false` and the retention sweep.
 */
const ERASED_CONTENT: UpdateObject<DB, "tasks"> = {
  messages: sql`'[]'::jsonb`,
  response: sql`''`,
  choices: sql`NULL`,
  configs: sql`(configs - 'passthrough' - 'metadata' - 'responses') || jsonb_build_object('responses', jsonb_build_object('erased', true, 'store', configs #> '{responses,store}', 'background', configs #> '{responses,background}'))`,
  updated_at: sql`now()`,
};

/** Erases one finished response (`DELETE /v1/responses/{id}`, or `store: false` once answered). */
const eraseResponse = prepare("llmq_task_erase_response", (p: { id: string }) =>
  kysely
    .updateTable("tasks")
    .set(ERASED_CONTENT)
    .where("task_id", "=", p.id)
    .where("endpoint", "=", lit("response"))
    .where("completed_at", "is not", null),
);

/**
 * Erases up to `limit` responses that ended more than `seconds` ago (Postgres's clock, the one that wrote
 * completed_at) and are not erased yet, oldest first, and returns their ids. The candidates come from
 * `tasks_response_retention_idx`, whose predicate is this WHERE (literals, so the prepared statement's
 * generic plan can use it): it holds only finished responses not yet erased, so a round reads no erased
 * or plain task however long the history. Rows another sweeper (or a DELETE) holds are skipped, not waited for.
 */
const eraseResponsesPastRetention = prepare("llmq_task_erase_responses_past_retention", (p: { seconds: number; limit: number }) =>
  kysely
    .updateTable("tasks")
    .set(ERASED_CONTENT)
    .where("task_id", "in", (eb) =>
      eb
        .selectFrom("tasks")
        .select("task_id")
        .where("endpoint", "=", lit("response"))
        .where("completed_at", "is not", null)
        .where(sql<boolean>`NOT ${ERASED}`)
        .where("completed_at", "<", sql<Date>`now() - ${p.seconds}::int * interval '1 second'`)
        .orderBy("completed_at", "asc")
        .limit(p.limit)
        .forUpdate()
        .skipLocked(),
    )
    .returning("task_id as id"),
);

// Items of a batch still validating are left out: their batch enqueues them once all its rows are in. As
// NOT EXISTS (a look-up by batches' key per item; the foreign key makes it the same rows as the join it
// replaced): the generic plan of a LEFT JOIN, sure there were 3 open tasks, compared each of 5,000 with
// every batch (1.4 M comparisons, 160 ms a round at 10 M rows).
// A page of the open tasks in task_id order from `after` (tasks_open_id_idx: at most `limit` rows read,
// whatever they hold), each with whether it is stale: untouched since `before`. Reading a bounded page
// replaced "every open task, sorted by updated_at" (5,000 rows read and sorted each round at 10 M rows,
// 79-98 ms p99), which also checked only the oldest `limit` of them: behind a backlog of more PENDING
// tasks than that, a lost one further on was never reached. updated_at stays unindexed (checkpoints stay HOT).
const openTasksPage = prepare("llmq_task_open_page", (p: { before: Date; after: string; limit: number }) =>
  kysely
    .selectFrom((eb) =>
      eb
        .selectFrom("tasks")
        .select(["task_id", "owner_id", "status", "queue_name", "attempts", "batch_id", "api_key_id", "webhook", "updated_at"])
        .where("completed_at", "is", null)
        .where("task_id", ">", p.after)
        .orderBy("task_id")
        .limit(p.limit)
        .as("t"),
    )
    .select(["t.task_id as id", "t.owner_id as ownerId", "t.status", "t.queue_name as queueName", "t.attempts", "t.batch_id as batchId", "t.api_key_id as apiKeyId", "t.webhook"])
    .select((eb) =>
      eb
        .and([
          eb("t.updated_at", "<", p.before),
          eb.not(eb.exists(eb.selectFrom("batches as b").select(lit(1).as("one")).whereRef("b.id", "=", "t.batch_id").where("b.status", "=", lit("validating")))),
        ])
        .as("stale"),
    )
    .orderBy("t.task_id"),
);

/** An unfinished task the sweeper checks (see findStale). */
export type StaleTask = Omit<RowOf<typeof openTasksPage>, "stale">;

/** Task rows and their conditional state changes. Every transition states the statuses it may leave. */
export class TaskRepository {
  private readonly pool: Pool;

  constructor(db: Database) {
    this.pool = poolOf(db);
  }

  /** Inserts a PENDING task (before its job is enqueued: Postgres is the source of truth). */
  async create(task: NewTask): Promise<TaskRecord> {
    return insertTask(this.pool, task);
  }

  /** Inserts many PENDING tasks in one statement; their rows in input order. */
  async createMany(tasks: readonly NewTask[]): Promise<TaskRecord[]> {
    return insertTasks(this.pool, tasks);
  }

  /** Deletes PENDING tasks never acknowledged to their clients (their enqueue failed). */
  async withdrawMany(ids: readonly string[]): Promise<void> {
    await withdrawByIds.count(this.pool, { ids });
  }

  /**
   * Inserts a batch's tasks, INSERT_CHUNK rows per statement and INSERT_PARALLEL statements at a time (one
   * Postgres backend updates a chunk's indexes on one core); rows whose id exists are skipped, so an
   * ingest that crashed and runs again creates nothing twice (batch task ids derive from batch and line).
   */
  async createBatchTasks(batchId: string, tasks: readonly BatchTask[]): Promise<number> {
    let next = 0;
    let inserted = 0;
    const lane = async () => {
      while (next < tasks.length) {
        const start = next;
        next += INSERT_CHUNK;
        inserted += await insertBatchTasks(this.pool, batchId, tasks.slice(start, start + INSERT_CHUNK));
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
    return closePending.rows(this.pool, { batchId, to, finishReason: to === "CANCELLED" ? "cancelled" : null });
  }

  /** True while some task of the batch may still run (PENDING or RUNNING: completed_at null, on tasks_open_idx). */
  async batchHasOpenTasks(batchId: string): Promise<boolean> {
    return (await openOfBatch.rows(this.pool, { batchId })).length > 0;
  }

  /** Ids of a batch's RUNNING tasks (to cancel them one by one, with their upstream requests). */
  async runningIdsOfBatch(batchId: string): Promise<string[]> {
    return (await runningOfBatch.rows(this.pool, { batchId })).map((row) => row.id);
  }

  /** A page of a batch's tasks in input order, after line `afterIndex`. */
  async batchPage(batchId: string, afterIndex: number, limit: number): Promise<TaskRecord[]> {
    return pageOfBatch.rows(this.pool, { batchId, afterIndex, limit });
  }

  /** Deletes a PENDING task that was never acknowledged to its client (its enqueue failed). */
  async withdraw(id: string): Promise<void> {
    await this.withdrawMany([id]);
  }

  /** The task if `viewer` may see it; null otherwise, so other tenants cannot learn it exists. */
  async findVisible(id: string, viewer: Viewer): Promise<TaskRecord | null> {
    return selectTask(this.pool, id, viewer.isAdmin ? null : viewer.userId);
  }

  /** The tasks with these ids, in no particular order (live task lists load a tick's changes at once). */
  async findByIds(ids: readonly string[]): Promise<TaskRecord[]> {
    if (ids.length === 0) return [];
    return selectByIds.rows(this.pool, { ids });
  }

  /** The task by id, for workers. */
  async findById(id: string): Promise<TaskRecord | null> {
    return selectTask(this.pool, id, null);
  }

  /** One page of history, newest first, with the cursor of the next page (a statement per combination of filters, unnamed). */
  async history(query: HistoryQuery): Promise<{ tasks: TaskRecord[]; nextCursor: string | null }> {
    const after = query.cursor;
    const rows = await run(
      this.pool,
      kysely
        .selectFrom("tasks")
        .select(TASK_COLUMNS)
        .$if(!query.viewer.isAdmin, (q) => q.where("owner_id", "=", query.viewer.userId))
        .$if(query.ownerId !== undefined, (q) => q.where("owner_id", "=", query.ownerId!))
        .$if(query.status !== undefined, (q) => q.where("status", "=", query.status!))
        // An open status: also `completed_at IS NULL` (the table's CHECK makes it the same rows), so the
        // planner can read the few open tasks from tasks_open_idx instead of walking every task of the
        // owner (or of everyone) looking for one.
        .$if(query.status !== undefined && !isFinal(query.status), (q) => q.where("completed_at", "is", null))
        // A final status of one user: also `final_status` (the status once ended, written with completed_at:
        // the same rows), so the page comes in order from tasks_owner_final_status_idx instead of a walk of
        // their history that reads every row to check its status (FAILED, 3 % of the rows: 4,000 pages for
        // 50). Not across all users: there the newest rows hold 50 of any status, and with it the planner
        // read all of a status from that index and sorted them (EXPIRED at 10 M rows: 100,000 rows, 1 s).
        .$if(query.status !== undefined && isFinal(query.status) && (!query.viewer.isAdmin || query.ownerId !== undefined), (q) =>
          q.where("final_status", "=", query.status!),
        )
        .$if(query.model !== undefined, (q) => q.where("model", "=", query.model!))
        .$if(query.batchId !== undefined, (q) => q.where("batch_id", "=", query.batchId!))
        .$if(query.createdFrom !== undefined, (q) => q.where("created_at", ">=", query.createdFrom!))
        .$if(query.createdTo !== undefined, (q) => q.where("created_at", "<", query.createdTo!))
        // After the cursor: (created_at, task_id) < (its time, its id). `created_at <= its time` bounds the
        // index scan, so a deep page starts where the cursor is; the OR alone was only a filter, and a page
        // read every newer row first (seconds, 60 days deep). The OR then leaves out the rows of the
        // cursor's own millisecond at or above its id.
        .$if(after !== undefined, (q) =>
          q
            .where("created_at", "<=", after!.createdAt)
            .where((eb) => eb.or([eb("created_at", "<", after!.createdAt), eb("task_id", "<", after!.id)])),
        )
        .orderBy("created_at", "desc")
        .orderBy("task_id", "desc")
        .limit(query.limit + 1),
    );
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
    return startAttempts(this.pool, starts, statusesLeadingTo("RUNNING"));
  }

  /** expireIfUnstarted for many tasks in one statement: those that expired. */
  async expireUnstarted(ids: readonly string[]): Promise<ExpiredTask[]> {
    return expireByIds.rows(this.pool, { ids });
  }

  /** checkpoint for many running attempts in one statement: the ids whose row was updated. */
  async checkpointMany(updates: readonly ProgressUpdate[]): Promise<Set<string>> {
    return updateProgressMany(this.pool, updates);
  }

  /** complete for many attempts in one statement: the rows updated (less their request), by id. */
  async completeMany(updates: readonly CompletionUpdate[]): Promise<Map<string, FinishedTask>> {
    return updateCompletedMany(this.pool, updates, statusesLeadingTo("COMPLETED"));
  }

  /** PENDING and never started, past its queue deadline -> EXPIRED. The expired task, or null if it was not due. */
  async expireIfUnstarted(id: string): Promise<ExpiredTask | null> {
    const [row] = await expireById.rows(this.pool, { id });
    return row ?? null;
  }

  /** Every task past its queue deadline that no worker started (a paused or unserved queue): the sweeper's round, `limit` at a time. */
  async expireOverdue(limit: number): Promise<ExpiredTask[]> {
    return expireDue.rows(this.pool, { limit });
  }

  /**
   * Interactive tasks PENDING or RUNNING of a user, and of one of its keys (their concurrency quotas), in one
   * statement on `tasks_open_idx` (open = completed_at null, which the table's CHECK ties to those statuses).
   */
  async openTaskCounts(ownerId: string, apiKeyId: string | null): Promise<{ user: number; key: number }> {
    const [row] = await openCounts.rows(this.pool, { ownerId, apiKeyId });
    return { user: Number(row?.user ?? 0), key: Number(row?.key ?? 0) };
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
  async fail(id: string, attempt: number | null, error: { code: string; message: string }, served?: ServedBy): Promise<boolean> {
    const count = await failOne.count(this.pool, {
      id,
      attempt,
      code: error.code,
      message: error.message,
      completedAt: new Date(),
      upstream: served?.upstream ?? null,
      servedModel: served?.servedModel ?? null,
      from: statusesLeadingTo("FAILED"),
    });
    return count === 1;
  }

  /** RUNNING -> PENDING after a retryable failure: the job waits in the queue for its next attempt. */
  async releaseForRetry(id: string, attempt: number, error: { code: string; message: string }): Promise<boolean> {
    const count = await releaseOne.count(this.pool, { id, attempt, code: error.code, message: error.message, from: statusesLeadingTo("PENDING") });
    return count === 1;
  }

  /** RUNNING -> PENDING for an attempt no upstream served (see releaseUnstartedOne): no try spent, the attempt taken back. */
  async releaseUnserved(id: string, attempt: number): Promise<boolean> {
    return (await releaseUnstartedOne.count(this.pool, { id, attempt })) === 1;
  }

  /** PENDING or RUNNING -> CANCELLED. Returns the status the task had, or null if it was already final. */
  async cancel(id: string): Promise<TaskStatus | null> {
    const [row] = await cancelOne.rows(this.pool, { id, from: statusesLeadingTo("CANCELLED") });
    return row?.previous ?? null;
  }

  /** Keeps what a cancelled attempt had generated (text and usage) once its worker has stopped. */
  async recordCancelledOutput(id: string, attempt: number, outcome: Omit<TaskOutcome, "finishReason">): Promise<boolean> {
    const count = await recordCancelled.count(this.pool, {
      id,
      attempt,
      response: outcome.response,
      percent: outcome.percent,
      completionTokens: outcome.completionTokens,
      firstTokenAt: outcome.firstTokenAt,
      choices: JSON.stringify(outcome.choices),
      promptTokens: outcome.promptTokens,
    });
    return count === 1;
  }

  /**
   * Erases a finished response's content, keeping its row for the history (see eraseResponse). False when
   * the task is not a finished response (erase only after the task is final: cancel it first).
   */
  async eraseResponse(id: string): Promise<boolean> {
    return (await eraseResponse.count(this.pool, { id })) === 1;
  }

  /**
   * Erases, as eraseResponse does, up to `limit` finished responses that ended more than `seconds` ago,
   * oldest first; returns their ids (their event streams are the caller's to drop). Any number of
   * sweepers may run it at once: each takes rows the others have not locked.
   */
  async eraseResponsesPastRetention(seconds: number, limit: number): Promise<string[]> {
    return (await eraseResponsesPastRetention.rows(this.pool, { seconds, limit })).map((row) => row.id);
  }

  /**
   * One page of the unfinished tasks, in task_id order after `after` ("" for the first): the stale ones,
   * last touched before `before` (the sweeper checks their jobs), and where the next page starts (null
   * once the last page is read: start again from ""). At most `limit` open tasks are read. Items of a
   * batch still validating are left out: their batch enqueues them once all its rows are in.
   */
  async findStale(before: Date, after: string, limit: number): Promise<{ stale: StaleTask[]; next: string | null }> {
    const rows = await openTasksPage.rows(this.pool, { before, after, limit });
    return {
      stale: rows.filter((row) => row.stale).map(({ stale: _stale, ...task }) => task),
      next: rows.length === limit ? rows[rows.length - 1]!.id : null,
    };
  }
}
