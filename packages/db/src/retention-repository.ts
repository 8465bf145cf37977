import { type SelectQueryBuilder, sql } from "kysely";
import type { Pool } from "pg";
import { type Database, poolOf } from "./client";
import { kysely, lit, prepare } from "./kysely";
import { ERASED } from "./task-repository";

/**
 * The statements of TASK_RETENTION_DAYS and FILE_RETENTION_DAYS (the worker's sweeper). Each one is a
 * single short statement (its own transaction) that takes at most `limit` candidates, oldest first, with
 * `FOR UPDATE SKIP LOCKED`: rows another sweeper or a request holds are skipped, never waited for, and
 * any number of workers may sweep at once. A task or batch goes with its webhook deliveries (their
 * attempts by cascade) in the same statement. Its Redis event stream is the caller's to drop (the ids
 * come back). Idempotency keys are not looked up here: they are honoured 24 hours and deleted after
 * (IdempotencyRepository.deleteExpired), and a retention is at least a day, so a task's or batch's key is
 * always gone before it is (resource_id has no index, and needs none).
 */

/** What one statement deleted. */
export interface DeletedRows {
  /** Ids of the tasks deleted (their event streams are the caller's to drop). */
  taskIds: string[];
  batches: number;
  deliveries: number;
}

/** Statuses a batch ends in, and those of a batch that has not ended (as batch-repository's). */
const FINAL_BATCH = [lit("completed"), lit("failed"), lit("expired"), lit("cancelled")];
const OPEN_BATCH = [lit("validating"), lit("in_progress"), lit("finalizing"), lit("cancelling")];

/** When batch `b` ended: the stamp of its final status (the latest, should several be set). The expression of batches_ended_idx. */
const BATCH_ENDED_AT = sql<Date>`greatest(b.completed_at, b.failed_at, b.expired_at, b.cancelled_at)`;

/** A batch whose token reservation was settled against its tasks' usage (or had none): its tasks may go. */
const SETTLED = sql<boolean>`(b.reserved_tokens IS NULL OR b.settled_at IS NOT NULL)`;

const cutoff = (seconds: number) => sql<Date>`now() - ${seconds}::int * interval '1 second'`;

/** Deletes the tasks `doomed` picks, with their webhook deliveries (webhook_deliveries_task_idx); one statement. */
function deleteTasksWith<D, T extends keyof D>(doomed: SelectQueryBuilder<D, T, { task_id: string }>) {
  return kysely
    .with("doomed", () => doomed)
    .with("deliveries", (db) => db.deleteFrom("webhook_deliveries").where("task_id", "in", db.selectFrom("doomed").select("task_id")).returning("id"))
    .with("gone", (db) => db.deleteFrom("tasks").where("task_id", "in", db.selectFrom("doomed").select("task_id")).returning("task_id"))
    .selectNoFrom([
      sql<string[]>`coalesce((SELECT array_agg(task_id) FROM gone), '{}')`.as("taskIds"),
      sql<string>`(SELECT count(*) FROM deliveries)`.as("deliveries"),
    ]);
}

/**
 * Finished tasks outside batches that ended more than `seconds` ago, oldest first. A response's task only
 * once its content is erased (RESPONSE_RETENTION_HOURS or DELETE): its own retention comes first. The
 * candidates come from tasks_retention_idx, whose predicate is this WHERE in literals.
 */
const deleteLooseTasks = prepare("llmq_retention_delete_tasks", (p: { seconds: number; limit: number }) =>
  deleteTasksWith(
    kysely
      .selectFrom("tasks")
      .select("task_id")
      .where("completed_at", "is not", null)
      .where("batch_id", "is", null)
      .where(sql<boolean>`(endpoint <> 'response' OR ${ERASED})`)
      .where("completed_at", "<", cutoff(p.seconds))
      .orderBy("completed_at", "asc")
      .limit(p.limit)
      .forUpdate()
      .skipLocked(),
  ),
);

/**
 * Finished tasks of batches that ended more than `seconds` ago (a task of a batch goes with its batch,
 * never before it: its results file is made from them), `limit` at a time, from the oldest such batches
 * that still have tasks (batches_ended_idx, then tasks_batch_idx per batch). A batch whose token
 * reservation is not settled yet (the sweeper settles it first) keeps its tasks: their usage settles it.
 */
const deleteBatchTasks = prepare("llmq_retention_delete_batch_tasks", (p: { seconds: number; limit: number }) =>
  deleteTasksWith(
    kysely
      .selectFrom(
        kysely
          .selectFrom("batches as b")
          .select("b.id")
          .where("b.status", "in", FINAL_BATCH)
          .where(sql<boolean>`${BATCH_ENDED_AT} < ${cutoff(p.seconds)}`)
          .where(SETTLED)
          .where((eb) => eb.exists(eb.selectFrom("tasks as x").select(lit(1).as("one")).whereRef("x.batch_id", "=", "b.id")))
          .orderBy(BATCH_ENDED_AT)
          .limit(p.limit)
          .as("due"),
      )
      // A lateral look-up per batch (an index condition on tasks_batch_idx): never a plan that reads tasks
      // whole for a list of batches it cannot size (a prepared statement's generic plan).
      .innerJoinLateral(
        (eb) =>
          eb
            .selectFrom("tasks")
            .select("tasks.task_id")
            .whereRef("tasks.batch_id", "=", "due.id")
            .where("tasks.completed_at", "is not", null)
            .limit(p.limit)
            .forUpdate()
            .skipLocked()
            .as("item"),
        (join) => join.onTrue(),
      )
      .select("item.task_id")
      .limit(p.limit),
  ),
);

/**
 * Batches that ended more than `seconds` ago and have no task left, with their webhook deliveries. Never
 * one with tasks: its cascade would take them all in one statement.
 */
const deleteEmptyBatches = prepare("llmq_retention_delete_batches", (p: { seconds: number; limit: number }) =>
  kysely
    .with("doomed", (db) =>
      db
        .selectFrom("batches as b")
        .select("b.id")
        .where("b.status", "in", FINAL_BATCH)
        .where(sql<boolean>`${BATCH_ENDED_AT} < ${cutoff(p.seconds)}`)
        .where(SETTLED)
        .where((eb) => eb.not(eb.exists(eb.selectFrom("tasks as x").select(lit(1).as("one")).whereRef("x.batch_id", "=", "b.id"))))
        .orderBy(BATCH_ENDED_AT)
        .limit(p.limit)
        .forUpdate()
        .skipLocked(),
    )
    .with("deliveries", (db) => db.deleteFrom("webhook_deliveries").where("batch_id", "in", db.selectFrom("doomed").select("id")).returning("id"))
    .with("gone", (db) => db.deleteFrom("batches").where("id", "in", db.selectFrom("doomed").select("id")).returning("id"))
    .selectNoFrom([
      sql<string>`(SELECT count(*) FROM gone)`.as("batches"),
      sql<string>`(SELECT count(*) FROM deliveries)`.as("deliveries"),
    ]),
);

/**
 * Files created more than `seconds` ago that no open batch reads, oldest first, `limit` at most and no more
 * than `maxBytes` of content beyond the first (a file's chunks go by cascade in the same statement, so the
 * statement is bounded by bytes as well as rows). Staged files that old (an upload that died) go too.
 */
const deleteFiles = prepare("llmq_retention_delete_files", (p: { seconds: number; limit: number; maxBytes: number }) =>
  kysely
    .with("candidates", (db) =>
      db
        .selectFrom("files as f")
        .select(["f.id", "f.bytes", "f.created_at"])
        .where("f.created_at", "<", cutoff(p.seconds))
        .where((eb) =>
          eb.not(
            eb.exists(
              eb
                .selectFrom("batches as b")
                .select(lit(1).as("one"))
                .whereRef("b.input_file_id", "=", "f.id")
                .where("b.status", "in", OPEN_BATCH)
                .where("b.input_file_id", "is not", null),
            ),
          ),
        )
        .orderBy("f.created_at", "asc")
        .orderBy("f.id", "asc")
        .limit(p.limit)
        .forUpdate()
        .skipLocked(),
    )
    .with("chosen", (db) =>
      db
        .selectFrom("candidates")
        .select(["id", sql<string>`sum(bytes) OVER (ORDER BY created_at, id) - bytes`.as("before")]),
    )
    .with("gone", (db) =>
      db
        .deleteFrom("files")
        .where("id", "in", db.selectFrom("chosen").select("id").where(sql<boolean>`before < ${p.maxBytes}::bigint`))
        .returning(["id", "bytes"]),
    )
    .selectNoFrom([sql<string>`(SELECT count(*) FROM gone)`.as("files"), sql<string>`(SELECT coalesce(sum(bytes), 0) FROM gone)`.as("bytes")]),
);

/** The retention's deletions (see the statements above). Each method is one short statement. */
export class RetentionRepository {
  private readonly pool: Pool;

  constructor(db: Database) {
    this.pool = poolOf(db);
  }

  /** Deletes up to `limit` finished tasks outside batches that ended more than `seconds` ago, with their webhook deliveries. */
  async deleteTasks(seconds: number, limit: number): Promise<DeletedRows> {
    const [row] = await deleteLooseTasks.rows(this.pool, { seconds, limit });
    return { taskIds: row?.taskIds ?? [], batches: 0, deliveries: Number(row?.deliveries ?? 0) };
  }

  /** Deletes up to `limit` tasks of batches that ended more than `seconds` ago, with their webhook deliveries. */
  async deleteBatchTasks(seconds: number, limit: number): Promise<DeletedRows> {
    const [row] = await deleteBatchTasks.rows(this.pool, { seconds, limit });
    return { taskIds: row?.taskIds ?? [], batches: 0, deliveries: Number(row?.deliveries ?? 0) };
  }

  /** Deletes up to `limit` batches that ended more than `seconds` ago and have no task left, with their webhook deliveries. */
  async deleteBatches(seconds: number, limit: number): Promise<DeletedRows> {
    const [row] = await deleteEmptyBatches.rows(this.pool, { seconds, limit });
    return { taskIds: [], batches: Number(row?.batches ?? 0), deliveries: Number(row?.deliveries ?? 0) };
  }

  /** Deletes up to `limit` files (and about `maxBytes` of content) created more than `seconds` ago that no open batch reads. */
  async deleteFiles(seconds: number, limit: number, maxBytes: number): Promise<{ files: number; bytes: number }> {
    const [row] = await deleteFiles.rows(this.pool, { seconds, limit, maxBytes });
    return { files: Number(row?.files ?? 0), bytes: Number(row?.bytes ?? 0) };
  }
}
