import { type SelectQueryBuilder, sql } from "kysely";
import type { Pool } from "pg";
import { type Database, poolOf } from "./client";
import type { DB } from "./generated/kysely/database";
import { kysely, lit, prepare } from "./kysely";
import { ERASED } from "./task-repository";

/**
 * The statements of TASK_RETENTION_DAYS and FILE_RETENTION_DAYS (the worker's sweeper). Each one is a
 * single short statement (its own transaction) that takes at most `limit` candidates, oldest first, with
 * `FOR UPDATE SKIP LOCKED`: rows another sweeper or a request holds are skipped, never waited for, and
 * any number of workers may sweep at once. A task goes with what hangs off it, in the same statement:
 * its webhook deliveries (their attempts by cascade) and its idempotency keys. Its Redis event stream is
 * the caller's to drop (the ids come back).
 */

/** What one statement deleted. */
export interface DeletedRows {
  /** Ids of the tasks deleted (their event streams are the caller's to drop). */
  taskIds: string[];
  batches: number;
  deliveries: number;
  idempotencyKeys: number;
}

/** Statuses a batch ends in, and those of a batch that has not ended (as batch-repository's). */
const FINAL_BATCH = [lit("completed"), lit("failed"), lit("expired"), lit("cancelled")];
const OPEN_BATCH = [lit("validating"), lit("in_progress"), lit("finalizing"), lit("cancelling")];

/** When batch `b` ended: the stamp of its final status (the latest, should several be set). The expression of batches_ended_idx. */
const BATCH_ENDED_AT = sql<Date>`greatest(b.completed_at, b.failed_at, b.expired_at, b.cancelled_at)`;

const cutoff = (seconds: number) => sql<Date>`now() - ${seconds}::int * interval '1 second'`;

/**
 * Deletes the tasks `doomed` picks, with their webhook deliveries and idempotency keys; one statement.
 * The keys are found by their primary key's owner_id prefix (resource_id has no index of its own).
 */
function deleteTasksWith(doomed: SelectQueryBuilder<DB, "tasks", { task_id: string; owner_id: string }>) {
  return kysely
    .with("doomed", () => doomed)
    .with("deliveries", (db) => db.deleteFrom("webhook_deliveries").where("task_id", "in", db.selectFrom("doomed").select("task_id")).returning("id"))
    .with("keys", (db) =>
      db
        .deleteFrom("idempotency_keys")
        .using("doomed")
        .whereRef("idempotency_keys.owner_id", "=", "doomed.owner_id")
        .whereRef("idempotency_keys.resource_id", "=", "doomed.task_id")
        .returning("idempotency_keys.key"),
    )
    .with("gone", (db) => db.deleteFrom("tasks").where("task_id", "in", db.selectFrom("doomed").select("task_id")).returning("task_id"))
    .selectNoFrom([
      sql<string[]>`coalesce((SELECT array_agg(task_id) FROM gone), '{}')`.as("taskIds"),
      sql<string>`(SELECT count(*) FROM deliveries)`.as("deliveries"),
      sql<string>`(SELECT count(*) FROM keys)`.as("keys"),
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
      .select(["task_id", "owner_id"])
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
 * never before it: its results file is made from them), `limit` at a time, from the ten oldest such
 * batches that still have tasks (batches_ended_idx, then tasks_batch_idx).
 */
const deleteBatchTasks = prepare("llmq_retention_delete_batch_tasks", (p: { seconds: number; limit: number }) =>
  deleteTasksWith(
    kysely
      .selectFrom("tasks")
      .select(["task_id", "owner_id"])
      .where("batch_id", "in", (eb) =>
        eb
          .selectFrom("batches as b")
          .select("b.id")
          .where("b.status", "in", FINAL_BATCH)
          .where(sql<boolean>`${BATCH_ENDED_AT} < ${cutoff(p.seconds)}`)
          .where((inner) => inner.exists(inner.selectFrom("tasks as x").select(lit(1).as("one")).whereRef("x.batch_id", "=", "b.id")))
          .orderBy(BATCH_ENDED_AT)
          .limit(lit(10)),
      )
      .where("completed_at", "is not", null)
      .limit(p.limit)
      .forUpdate()
      .skipLocked(),
  ),
);

/**
 * Batches that ended more than `seconds` ago and have no task left, with their webhook deliveries and
 * idempotency keys. Never one with tasks: its cascade would take them all in one statement.
 */
const deleteEmptyBatches = prepare("llmq_retention_delete_batches", (p: { seconds: number; limit: number }) =>
  kysely
    .with("doomed", (db) =>
      db
        .selectFrom("batches as b")
        .select(["b.id", "b.owner_id"])
        .where("b.status", "in", FINAL_BATCH)
        .where(sql<boolean>`${BATCH_ENDED_AT} < ${cutoff(p.seconds)}`)
        .where((eb) => eb.not(eb.exists(eb.selectFrom("tasks as x").select(lit(1).as("one")).whereRef("x.batch_id", "=", "b.id"))))
        .orderBy(BATCH_ENDED_AT)
        .limit(p.limit)
        .forUpdate()
        .skipLocked(),
    )
    .with("deliveries", (db) => db.deleteFrom("webhook_deliveries").where("batch_id", "in", db.selectFrom("doomed").select("id")).returning("id"))
    .with("keys", (db) =>
      db
        .deleteFrom("idempotency_keys")
        .using("doomed")
        .whereRef("idempotency_keys.owner_id", "=", "doomed.owner_id")
        .whereRef("idempotency_keys.resource_id", "=", "doomed.id")
        .returning("idempotency_keys.key"),
    )
    .with("gone", (db) => db.deleteFrom("batches").where("id", "in", db.selectFrom("doomed").select("id")).returning("id"))
    .selectNoFrom([
      sql<string>`(SELECT count(*) FROM gone)`.as("batches"),
      sql<string>`(SELECT count(*) FROM deliveries)`.as("deliveries"),
      sql<string>`(SELECT count(*) FROM keys)`.as("keys"),
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

  /** Deletes up to `limit` finished tasks outside batches that ended more than `seconds` ago, with their deliveries and idempotency keys. */
  async deleteTasks(seconds: number, limit: number): Promise<DeletedRows> {
    const [row] = await deleteLooseTasks.rows(this.pool, { seconds, limit });
    return { taskIds: row?.taskIds ?? [], batches: 0, deliveries: Number(row?.deliveries ?? 0), idempotencyKeys: Number(row?.keys ?? 0) };
  }

  /** Deletes up to `limit` tasks of batches that ended more than `seconds` ago, with their deliveries and idempotency keys. */
  async deleteBatchTasks(seconds: number, limit: number): Promise<DeletedRows> {
    const [row] = await deleteBatchTasks.rows(this.pool, { seconds, limit });
    return { taskIds: row?.taskIds ?? [], batches: 0, deliveries: Number(row?.deliveries ?? 0), idempotencyKeys: Number(row?.keys ?? 0) };
  }

  /** Deletes up to `limit` batches that ended more than `seconds` ago and have no task left, with their deliveries and idempotency keys. */
  async deleteBatches(seconds: number, limit: number): Promise<DeletedRows> {
    const [row] = await deleteEmptyBatches.rows(this.pool, { seconds, limit });
    return { taskIds: [], batches: Number(row?.batches ?? 0), deliveries: Number(row?.deliveries ?? 0), idempotencyKeys: Number(row?.keys ?? 0) };
  }

  /** Deletes up to `limit` files (and about `maxBytes` of content) created more than `seconds` ago that no open batch reads. */
  async deleteFiles(seconds: number, limit: number, maxBytes: number): Promise<{ files: number; bytes: number }> {
    const [row] = await deleteFiles.rows(this.pool, { seconds, limit, maxBytes });
    return { files: Number(row?.files ?? 0), bytes: Number(row?.bytes ?? 0) };
  }
}
