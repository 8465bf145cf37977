-- GET /v1/ai/tasks?status=FAILED|EXPIRED|CANCELLED|COMPLETED for one user (docs/performance.md, "History at
-- 10 million rows"): the page walked the history of the user newest first and read each row to check its status
-- (FAILED, 3 % of the rows: 4,000 heap pages for 50 rows, 127 ms at p99). `status` itself cannot be indexed:
-- a start changes it, and the update of a start is HOT only while no index names a column it changes.
--
-- `final_status`: the status of the task once it ended (completed_at set), null while it is open. Written once,
-- by the same update that sets completed_at (which is never HOT: tasks_completed_idx names completed_at), so
-- an insert, a start, a checkpoint or a retry neither changes it nor writes an entry of the index below.
-- A trigger writes it, so every statement that ends a task (completion, failure, cancel, expiry, the cancel of
-- a batch, an ingest of rows already final) sets it without each having to: the trigger on UPDATE fires only
-- when a statement names status or completed_at, and its WHEN skips the function unless the value changes.
ALTER TABLE "tasks" ADD COLUMN IF NOT EXISTS "final_status" "TaskStatus";

-- The body is an escape string whose semicolons are written \073: prisma migrate (its pg adapter) cuts the
-- file into statements at every semicolon, inside quotes and comments too.
CREATE OR REPLACE FUNCTION "tasks_set_final_status"() RETURNS trigger LANGUAGE plpgsql AS E'
BEGIN
  NEW."final_status" := CASE WHEN NEW."completed_at" IS NULL THEN NULL ELSE NEW."status" END\073
  RETURN NEW\073
END';

DROP TRIGGER IF EXISTS "tasks_final_status_insert" ON "tasks";
CREATE TRIGGER "tasks_final_status_insert" BEFORE INSERT ON "tasks" FOR EACH ROW
  WHEN (NEW."completed_at" IS NOT NULL OR NEW."final_status" IS NOT NULL)
  EXECUTE FUNCTION "tasks_set_final_status"();

DROP TRIGGER IF EXISTS "tasks_final_status_update" ON "tasks";
CREATE TRIGGER "tasks_final_status_update" BEFORE UPDATE OF "status", "completed_at", "final_status" ON "tasks" FOR EACH ROW
  WHEN (NEW."final_status" IS DISTINCT FROM (CASE WHEN NEW."completed_at" IS NULL THEN NULL ELSE NEW."status" END))
  EXECUTE FUNCTION "tasks_set_final_status"();

-- Backfill of the tasks that ended before this migration. One statement: it rewrites every finished row
-- (non-HOT: a new version of each, and an entry in each index), fine for a small table. For a large one
-- (docs/performance.md gives the figures at 10 M rows) run the statements of this file above first, then the
-- backfill in batches with a VACUUM between them (prisma/README.md, "final_status on a large table"), and
-- CREATE INDEX CONCURRENTLY the index below under its name: this statement then finds nothing to update
-- (one sequential scan) and the CREATE INDEX IF NOT EXISTS nothing to build.
UPDATE "tasks" SET "final_status" = "status" WHERE "completed_at" IS NOT NULL AND "final_status" IS NULL;

-- A user's tasks of one final status, newest first: a page reads its 51 entries. Partial: open tasks
-- have no entry.
CREATE INDEX IF NOT EXISTS "tasks_owner_final_status_idx" ON "tasks"("owner_id", "final_status", "created_at" DESC, "task_id" DESC)
  WHERE "final_status" IS NOT NULL;
