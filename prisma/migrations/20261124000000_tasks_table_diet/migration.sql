-- The tasks table diet (issue 12). Which query needs which index: prisma/README.md, "Indexes of tasks"
-- (proved by packages/db/test/task-indexes.test.ts). Written by hand: Prisma 6 cannot describe partial
-- indexes, CHECK constraints or storage parameters.

-- An open task (PENDING or RUNNING) is exactly a task without completed_at: every move to a final status
-- sets it. Rows that broke this (none are known) are mended first, then the CHECK keeps it true. The
-- open-task indexes below key their predicates on completed_at, not on status, so a start (PENDING ->
-- RUNNING) and a retry (RUNNING -> PENDING) change no indexed column and can be HOT updates.
UPDATE "tasks" SET "completed_at" = "updated_at" WHERE "status" NOT IN ('PENDING', 'RUNNING') AND "completed_at" IS NULL;
UPDATE "tasks" SET "completed_at" = NULL WHERE "status" IN ('PENDING', 'RUNNING') AND "completed_at" IS NOT NULL;
ALTER TABLE "tasks" ADD CONSTRAINT "tasks_open_means_not_completed" CHECK (("status" IN ('PENDING', 'RUNNING')) = ("completed_at" IS NULL));

-- Open tasks by batch, then owner: a batch's open items (batchHasOpenTasks, runningIdsOfBatch), a user's
-- open interactive tasks (batch_id IS NULL AND owner_id = ..., the concurrency quota), every open task (the
-- sweeper's stale check). Replaces tasks_open_by_owner_idx, tasks_open_by_key_idx (unused since quotas go
-- by owner), tasks_batch_status_idx and, for the sweeper, tasks_status_idx.
CREATE INDEX "tasks_open_idx" ON "tasks"("batch_id", "owner_id") WHERE "completed_at" IS NULL;
DROP INDEX "tasks_open_by_owner_idx";
DROP INDEX "tasks_open_by_key_idx";
DROP INDEX "tasks_batch_status_idx";

-- Unstarted tasks by queue deadline, for the sweeper: the same rows as before, keyed on completed_at.
DROP INDEX "tasks_queue_deadline_idx";
CREATE INDEX "tasks_queue_deadline_idx" ON "tasks"("expires_at") WHERE "completed_at" IS NULL AND "expires_at" IS NOT NULL;

-- Finished tasks by completion time (queue statistics of the last hour, and the sweeper's webhooks due):
-- only finished rows. Open tasks (completed_at null) were in both and had tasks_completed_idx serve as a
-- second open-task index: now an insert writes neither, and open-task queries use tasks_open_idx.
DROP INDEX "tasks_completed_idx";
CREATE INDEX "tasks_completed_idx" ON "tasks"("completed_at") WHERE "completed_at" IS NOT NULL;
DROP INDEX "tasks_webhook_due_idx";
CREATE INDEX "tasks_webhook_due_idx" ON "tasks"("completed_at") WHERE "webhook" IS NOT NULL AND "completed_at" IS NOT NULL;

-- History filtered by status or model reads tasks_history_idx / tasks_owner_history_idx newest first: a
-- filter, not an index, is what they need (status changes on every start and end, so indexing it cost a
-- non-HOT update each time).
DROP INDEX "tasks_status_idx";
DROP INDEX "tasks_model_idx";

-- Room on every page for the new versions of its rows: checkpoints and starts stay on their page (HOT).
-- Applies to pages written from now on: an existing large table gets it on its next rewrite.
ALTER TABLE "tasks" SET (fillfactor = 80);
