-- TASK_RETENTION_DAYS and FILE_RETENTION_DAYS (the worker's sweeper, packages/db/src/retention-repository.ts).
-- Written by hand: Prisma 6 cannot describe partial or expression indexes.

-- Finished tasks outside batches that the retention may delete, by end time, oldest first: a response's
-- task only once its content is erased (its own RESPONSE_RETENTION_HOURS comes first). Batch items are
-- not in it (they go with their batch) nor are open tasks, so a round reads only what it deletes. An
-- insert writes no entry (completed_at is null) and no start or checkpoint changes a column it names:
-- only a completion adds one (as tasks_completed_idx), and an erasure may.
CREATE INDEX "tasks_retention_idx" ON "tasks"("completed_at")
  WHERE "completed_at" IS NOT NULL AND "batch_id" IS NULL AND ("endpoint" <> 'response' OR coalesce(("configs" #>> '{responses,erased}') = 'true', false));

-- Ended batches by end time (the stamp of their final status): the retention deletes a batch's tasks,
-- then the batch, once it ended longer ago than TASK_RETENTION_DAYS.
CREATE INDEX "batches_ended_idx" ON "batches"((greatest("completed_at", "failed_at", "expired_at", "cancelled_at")))
  WHERE "status" IN ('completed', 'failed', 'expired', 'cancelled');

-- Files by creation time: FILE_RETENTION_DAYS deletes the oldest first.
CREATE INDEX "files_created_idx" ON "files"("created_at");
